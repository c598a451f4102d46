/**
 * Circuit breaker: CLOSED → OPEN → HALF_OPEN, with a named registry. The
 * parts live in `circuit_breaker/`: the state machine (`state.ts`), when
 * CLOSED opens (`strategy.ts`), transition events (`events.ts`), the
 * registry (`registry.ts`) and the breaker object (`breaker.ts`).
 *
 * @module
 */

export type {
  CircuitBreaker,
  CircuitBreakerOptions,
  CircuitStats,
  IsolateOptions,
  StateChangeEvent,
  TransitionReason,
  WindowStats,
} from "./circuit_breaker/types.ts";
export { circuitBreaker } from "./circuit_breaker/breaker.ts";
export {
  clearCircuitBreakers,
  getCircuitBreaker,
  listCircuitBreakers,
  removeCircuitBreaker,
} from "./circuit_breaker/registry.ts";
