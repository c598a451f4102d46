// A rate-limit key from a client address: IPv4 as is, IPv6 grouped by its
// /64 prefix (one client usually owns a whole /64, so per-address keys would
// let it spray 2^64 keys).

/**
 * The rate-limit key of a client address: an IPv4 address unchanged (also
 * when written as IPv4-mapped IPv6, `::ffff:1.2.3.4`); an IPv6 address
 * reduced to its first `ipv6Subnet` bits (default 64), written
 * `prefix::/64`. Anything else is returned unchanged.
 *
 * Where the address comes from is the platform's business: on Cloudflare
 * Workers `c.req.header("cf-connecting-ip")` (set by Cloudflare; spoofable
 * on an origin reachable directly); on Node, Deno and Bun
 * `getConnInfo(c).remote.address` from Hono's adapter. Never a header a
 * client can set (`x-forwarded-for`) unless a proxy you run overwrites it.
 *
 * @example
 * ```ts
 * import { ipKey } from "edge-resilience/hono";
 *
 * console.log(ipKey("203.0.113.7")); // "203.0.113.7"
 * console.log(ipKey("2001:db8:85a3:8d3:1319:8a2e:370:7348")); // "2001:db8:85a3:8d3::/64"
 * console.log(ipKey("::ffff:198.51.100.1")); // "198.51.100.1"
 * ```
 */
export function ipKey(address: string, ipv6Subnet = 64): string {
  if (!Number.isInteger(ipv6Subnet) || ipv6Subnet < 1 || ipv6Subnet > 128) {
    throw new RangeError(`ipKey: ipv6Subnet must be an integer from 1 to 128, got ${ipv6Subnet}`);
  }
  if (typeof address !== "string" || !address.includes(":")) return address;
  const groups = expand(address);
  if (!groups) return address;
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`;
  }
  const kept: number[] = [];
  for (let i = 0, bits = ipv6Subnet; i < 8 && bits > 0; i++, bits -= 16) {
    kept.push(bits >= 16 ? groups[i] : groups[i] & (0xffff << (16 - bits)) & 0xffff);
  }
  const head = kept.map((g) => g.toString(16)).join(":");
  return ipv6Subnet === 128 ? head : `${head}::/${ipv6Subnet}`;
}

/** The eight 16-bit groups of an IPv6 address, or undefined if it is not one. */
function expand(address: string): number[] | undefined {
  let a = address.trim();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) as two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const b = v4.slice(1).map(Number);
    if (b.some((x) => x > 255)) return undefined;
    a = a.slice(0, v4.index) + ((b[0] << 8) | b[1]).toString(16) + ":" +
      ((b[2] << 8) | b[3]).toString(16);
  }
  const halves = a.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === "" ? [] : s.split(":"));
  const left = parse(halves[0]);
  const right = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...left, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...right];
  const groups: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    groups.push(parseInt(g, 16));
  }
  return groups;
}
