// The two Lua scripts of the Redis store. The rules stay in TypeScript; Lua
// does only what must be atomic on the server. Every argument arrives as a
// string (converted with `tonumber` where needed) and every reply is a
// string, so that RESP2 and RESP3, and every client, read them the same.
//
// An entry is a hash: `v` the value (JSON), `n` its version. One key per
// entity, so each script touches one key (routed by it on Redis Cluster).

/**
 * A Lua fragment, shared by the scripts that write an entry: with `k` the key,
 * `ty` its type, `n` the version read and `v` the value (JSON), writes `v`
 * under the next version — the old plus one, or, for a new entry, the
 * server's time in microseconds (so that an entry deleted and written again
 * does not repeat a version a reader may hold). `DEL` runs only for a key of
 * another type: a script that has written once may write past `maxmemory`,
 * so a plain write must meet `HSET`'s OOM check first.
 */
export const WRITE_ENTRY = `local c = tonumber(n)
local nx
if c and c >= 0 and c < 9e15 and c == math.floor(c) then
  nx = string.format('%.0f', c + 1)
else
  local t = redis.call('TIME')
  nx = t[1] .. string.format('%06d', tonumber(t[2]))
end
if ty ~= 'hash' and ty ~= 'none' then redis.call('DEL', k) end
redis.call('HSET', k, 'v', v, 'n', nx)`;

/**
 * KEYS[1]: the entry. Replies with a JSON array
 * `[seconds, microseconds, version, value, type]`: the server's `TIME`, the
 * version (`""` when absent, `"!<type>"` for a key of another type), the
 * stored value (`false` when absent) and the key's type.
 */
export const READ_SCRIPT = `local t = redis.call('TIME')
local k = KEYS[1]
local ty = redis.call('TYPE', k)['ok']
local v, n = false, ''
if ty == 'hash' then
  local r = redis.call('HMGET', k, 'v', 'n')
  v, n = r[1], r[2] or ''
elseif ty ~= 'none' then
  n = '!' .. ty
end
return cjson.encode({t[1], t[2], n, v, ty})`;

/**
 * KEYS[1]: the entry; ARGV: the version read, the value to write (JSON),
 * the expiry (ms). Writes (and sets the expiry) only if the version is
 * unchanged — a key of another type is replaced — and replies `"1"`; else
 * `"0"`. The write is {@link WRITE_ENTRY}'s.
 */
export const CAS_SCRIPT = `local k = KEYS[1]
local ty = redis.call('TYPE', k)['ok']
local n = ''
if ty == 'hash' then
  n = redis.call('HGET', k, 'n') or ''
elseif ty ~= 'none' then
  n = '!' .. ty
end
if n ~= ARGV[1] then return '0' end
local v = ARGV[2]
${WRITE_ENTRY}
redis.call('PEXPIRE', k, ARGV[3])
return '1'`;

const shas = new Map<string, Promise<string>>();

/** The SHA-1 of a script (hex), as `EVALSHA` wants it; computed once. */
export function shaOf(script: string): Promise<string> {
  let sha = shas.get(script);
  if (!sha) {
    sha = crypto.subtle.digest("SHA-1", new TextEncoder().encode(script)).then((d) =>
      Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("")
    );
    shas.set(script, sha);
  }
  return sha;
}
