// The instrumentation's warnings (no provider registered, an `attributes`
// hook that throws): each said once per process, not once per `instrument()`.
import { getDefaultLogger } from "../logger.ts";

/** What can be warned about. */
export type Warning = "meter" | "tracer" | "attributes";

const warned: Record<Warning, boolean> = { meter: false, tracer: false, attributes: false };

/** Logs `message` through the default logger, the first time `kind` is warned about. */
export function warnOnce(kind: Warning, message: string): void {
  if (warned[kind]) return;
  warned[kind] = true;
  getDefaultLogger().warn(message);
}

/**
 * @internal For tests that share a process (Bun runs every test file in one):
 * every warning may be said again.
 */
export function resetWarnings(): void {
  warned.meter = warned.tracer = warned.attributes = false;
}
