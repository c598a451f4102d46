// What a limit algorithm sees of one sample window, and the choice between them.
import { checkKnownOptions, optionNames } from "../validate.ts";
import type { WindowSummary } from "./types.ts";
import { type GradientOptions, gradientUpdate, resolveGradient } from "./gradient.ts";
import { resolveVegas, type VegasOptions, vegasUpdate } from "./vegas.ts";

/**
 * The limit algorithm of {@linkcode adaptiveConcurrency}: a name with the
 * default tuning (`"gradient"`, `"vegas"`), or an object naming it with
 * `type` and overriding some of its tuning.
 */
export type AdaptiveAlgorithm =
  | "gradient"
  | "vegas"
  | ({ type: "gradient" } & GradientOptions)
  | ({ type: "vegas" } & VegasOptions);

/** @internal An algorithm after validation: the next limit from the current one and a window. */
export interface ResolvedAlgorithm {
  readonly type: "gradient" | "vegas";
  update(limit: number, w: WindowSummary): number;
}

const GRADIENT_OPTIONS = optionNames<{ type: 1 } & GradientOptions>({
  type: 1,
  tolerance: 1,
  queueSize: 1,
  smoothing: 1,
});
const VEGAS_OPTIONS = optionNames<{ type: 1 } & VegasOptions>({
  type: 1,
  alpha: 1,
  beta: 1,
  backoff: 1,
});

/** @internal Validates the `algorithm` option (`where` names the pattern in errors). */
export function resolveAlgorithm(where: string, given: unknown): ResolvedAlgorithm {
  const a = given === undefined ? "gradient" : given;
  const type = typeof a === "string" ? a : (a as { type?: unknown } | null)?.type;
  const spec = typeof a === "object" && a !== null ? a : {};
  const at = `${where}: algorithm`;
  if (type === "gradient") {
    checkKnownOptions(at, spec, GRADIENT_OPTIONS);
    const g = resolveGradient(at, spec as GradientOptions);
    return { type, update: (limit, w) => gradientUpdate(g, limit, w) };
  }
  if (type === "vegas") {
    checkKnownOptions(at, spec, VEGAS_OPTIONS);
    const v = resolveVegas(at, spec as VegasOptions);
    return { type, update: (limit, w) => vegasUpdate(v, limit, w) };
  }
  throw new TypeError(
    `${where}: option 'algorithm' must be "gradient", "vegas" or { type: "gradient" | "vegas", ... }, got ${
      typeof a === "object" ? `{ type: ${String(type)} }` : String(a)
    }`,
  );
}
