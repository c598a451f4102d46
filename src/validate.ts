// Option validation shared by every pattern: errors name the pattern and the
// option, at construction time.

/** Largest delay `setTimeout` accepts without overflowing (2^31 - 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

export function checkNumber(
  where: string,
  name: string,
  given: unknown,
  fallback: number | undefined,
  min: number,
  { integer = false, exclusiveMin = false, max = MAX_TIMER_MS } = {},
): number {
  // Only an absent option (undefined) takes the default: null is an error.
  const value = given === undefined ? fallback : given;
  if (typeof value !== "number") {
    throw new TypeError(
      `${where}: option '${name}' must be a number, got ${typeof value}`,
    );
  }
  if (
    Number.isNaN(value) || !Number.isFinite(value) ||
    (integer && !Number.isInteger(value)) ||
    (exclusiveMin ? value <= min : value < min) || value > max
  ) {
    throw new RangeError(
      `${where}: option '${name}' must be ${integer ? "an integer" : "a finite number"} ${
        exclusiveMin ? ">" : ">="
      } ${min} and <= ${max}, got ${show(value)}`,
    );
  }
  return value;
}

export function checkFunction(
  where: string,
  name: string,
  value: unknown,
): void {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(
      `${where}: option '${name}' must be a function, got ${typeof value}`,
    );
  }
}

export function checkString(where: string, name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== "string" || value === "")) {
    throw new TypeError(
      `${where}: option '${name}' must be a non-empty string, got ${show(value)}`,
    );
  }
}

export function checkObject(where: string, name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== "object" || value === null)) {
    throw new TypeError(
      `${where}: option '${name}' must be an object, got ${show(value)}`,
    );
  }
}

/** A class of errors, e.g. `TypeError` or a user's own error class. */
export type ErrorClass = abstract new (...args: never[]) => unknown;

/** Builds a predicate from error classes or a predicate function. */
export function errorMatcher(
  where: string,
  name: string,
  value: unknown,
): ((e: unknown) => boolean) | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "function") {
    // A lone error class is a common slip for `[ErrorClass]`: accept it.
    const proto = (value as { prototype?: unknown }).prototype;
    if (value === Error || proto instanceof Error) {
      return (e) => e instanceof (value as ErrorClass);
    }
    return value as (e: unknown) => boolean;
  }
  if (
    Array.isArray(value) && value.every((c) => typeof c === "function")
  ) {
    const classes = value as ErrorClass[];
    return (e) => classes.some((c) => e instanceof c);
  }
  throw new TypeError(
    `${where}: option '${name}' must be an array of error classes or a predicate function`,
  );
}

/**
 * How far option name `a` is from `b` (both lower case): the edit distance,
 * but little more than one edit when one starts with the other ('timeout'
 * for 'timeoutMs'), the nearer in length the better ('storeOption' is
 * 'storeOptions', not 'store').
 */
function distance(a: string, b: string): number {
  if (a.length > 2 && (a.startsWith(b) || b.startsWith(a))) {
    return 1 + Math.abs(a.length - b.length) / 100;
  }
  let prev = [...Array(b.length + 1).keys()];
  for (let i = 0; i < a.length; i++) {
    const row = [i + 1];
    for (let j = 0; j < b.length; j++) {
      row[j + 1] = Math.min(prev[j + 1] + 1, row[j] + 1, prev[j] + (a[i] === b[j] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * Names given up for one name across patterns (nothing was published, so no
 * aliases): an old name is refused like any unknown one, suggesting its new
 * name when the pattern has it.
 */
const RENAMED: Readonly<Record<string, string>> = {
  default: "fallbackValue",
  defaultValue: "fallbackValue",
  response: "fallback",
};

/**
 * Refuses option names the pattern does not know, naming the key and the
 * nearest known one: `retry({ maxAttempt: 3 })` → "retry: unknown option
 * 'maxAttempt' (did you mean 'maxAttempts'?)"; a renamed option suggests its
 * new name (`fallback({ default: 1 })` → "did you mean 'fallbackValue'?").
 * A misspelled option would otherwise be silently ignored and its default used.
 */
export function checkKnownOptions(
  where: string,
  options: unknown,
  known: readonly string[],
): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object, got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    let best = "";
    let bestDistance = Infinity;
    const renamed = Object.hasOwn(RENAMED, key) ? RENAMED[key] : undefined;
    if (renamed !== undefined && known.includes(renamed)) [best, bestDistance] = [renamed, 0];
    for (const k of bestDistance === 0 ? [] : known) {
      const d = distance(key.toLowerCase(), k.toLowerCase());
      if (d < bestDistance) [best, bestDistance] = [k, d];
    }
    const near = best && bestDistance <= Math.max(2, Math.floor(best.length / 3));
    throw new TypeError(
      `${where}: unknown option '${key}'` +
        (near ? ` (did you mean '${best}'?)` : ` (known options: ${known.join(", ")})`),
    );
  }
}

/**
 * The option names of an options interface, checked by the compiler to be
 * exactly its keys (a missing or extra name fails to type-check), for
 * {@linkcode checkKnownOptions}: `optionNames<RetryOptions>({ maxAttempts: 1, … })`.
 */
export function optionNames<T>(table: { readonly [K in keyof Required<T>]: 1 }): readonly string[] {
  return Object.keys(table);
}

/**
 * Runs `make`, a call of the inner factory `inner` with options the user gave
 * to `where`, so that its option errors name what the user called and the
 * option as the user spelled it: `routeBulkhead({})` fails with
 * "routeBulkhead: option 'maxConcurrent' …", not "bulkhead: …", and
 * `resilientFetch(url, { hedge: { delay: 0 } })` with "resilientFetch: option
 * 'hedge.delay' …" (`prefix` `"hedge."`). Other errors pass unchanged.
 */
export function optionsOf<T>(where: string, inner: string, make: () => T, prefix = ""): T {
  try {
    return make();
  } catch (e) {
    if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
    if (!e.message.startsWith(`${inner}: `)) throw e;
    const message = `${where}: ${e.message.slice(inner.length + 2)}`
      .replace(/(option|did you mean) '([^']*)'/g, (_, w, n) => `${w} '${prefix}${n}'`)
      .replace(
        /\(known options: ([^)]*)\)/,
        (_, list: string) =>
          `(known options: ${list.split(", ").map((n) => prefix + n).join(", ")})`,
      )
      .replace(
        /^(\w+): options must/,
        (_, w) => prefix ? `${w}: option '${prefix.slice(0, -1)}' must` : `${w}: options must`,
      );
    throw e instanceof RangeError ? new RangeError(message) : new TypeError(message);
  }
}
