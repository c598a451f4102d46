// Store keys: a namespace (`cb:` for circuits) and an encoded name, bounded.

/**
 * Validates a name for use in a store key: a non-empty string of at most
 * `maxBytes` UTF-8 bytes once prefixed. Names are encoded
 * (`encodeURIComponent`), so they cannot escape the prefix (nor inject a
 * Redis Cluster hash tag: `{` and `}` are encoded).
 *
 * @example
 * ```ts
 * import { storeKey } from "edge-resilience";
 *
 * console.log(storeKey("cb:", "api/../x")); // "cb:api%2F..%2Fx"
 * ```
 */
export function storeKey(prefix: string, name: string, maxBytes = 512): string {
  if (typeof name !== "string" || name === "") {
    throw new TypeError("store key: the name must be a non-empty string");
  }
  const encoded = encodeURIComponent(name); // ASCII only: one byte per character
  const key = prefix + encoded;
  const size = encoded.length + new TextEncoder().encode(prefix).length;
  if (size > maxBytes) {
    throw new RangeError(
      `store key '${
        key.slice(0, 40)
      }…' is ${size} bytes once prefixed and encoded; the limit is ${maxBytes} bytes`,
    );
  }
  return key;
}

/**
 * A store's own key for a key it was given (already namespaced and
 * encoded): its prefix, then the key; a `RangeError` naming the limit when
 * the whole is longer than `maxBytes`.
 */
export function prefixedKey(prefix: string, key: string, maxBytes: number): string {
  if (typeof key !== "string" || key === "") {
    throw new TypeError("store key: expected a non-empty string");
  }
  const full = prefix + key;
  const size = new TextEncoder().encode(full).length;
  if (size > maxBytes) {
    throw new RangeError(
      `store key '${
        full.slice(0, 40)
      }…' is ${size} bytes with the prefix; the limit is ${maxBytes} bytes`,
    );
  }
  return full;
}
