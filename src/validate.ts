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
