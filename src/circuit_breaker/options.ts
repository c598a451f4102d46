// The option table of circuitBreaker(): what checkKnownOptions accepts and
// what the registry compares.
import { optionNames } from "../validate.ts";
import type { CircuitBreakerOptions } from "./types.ts";

/** Where option errors come from. */
export const W = "circuitBreaker";

/** The option names, checked by the compiler against {@linkcode CircuitBreakerOptions}. */
export const NAMES = /* @__PURE__ */ optionNames<CircuitBreakerOptions>({
  name: 1,
  failureThreshold: 1,
  failureRateThreshold: 1,
  windowCalls: 1,
  windowDuration: 1,
  windowBuckets: 1,
  minimumThroughput: 1,
  slowCallDuration: 1,
  slowCallRateThreshold: 1,
  isFailureResult: 1,
  maxResetTimeout: 1,
  resetTimeout: 1,
  halfOpenMaxCalls: 1,
  countCallerAborts: 1,
  isFailure: 1,
  excludedErrors: 1,
  fallback: 1,
  onStateChange: 1,
  logger: 1,
  clock: 1,
  store: 1,
  storeKey: 1,
  storeOptions: 1,
  onStoreStatus: 1,
});
