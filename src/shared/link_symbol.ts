// Where a store keeps the function that links it to a breaker: a breaker
// without a store never loads the link's code.
import type { SharedStore } from "./port.ts";

/** @internal */
export const LINK: unique symbol = /* @__PURE__ */ Symbol.for("edge-resilience.store-link");

/** @internal A store, as linked by `sharedStore()`: `LINK` makes a breaker's link. */
export type LinkedStore = SharedStore & { [LINK]: (host: unknown) => unknown };
