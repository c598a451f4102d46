// The rate limiter's store operation as ONE Lua script: read the key's entry,
// repair it if unreadable, bound it for clock skew, apply the request, write
// the new state, answer — one round trip per take. A line-by-line port of
// `rateLimitReducer` + `takePermits` (src/rate_limit/reducer.ts,
// algorithms.ts): same expressions in the same order on the same IEEE
// doubles (Lua 5.1's numbers), so the same answers and the same state; the
// differential test (tests/redis_rate_lua_test.ts) holds them to it.
//
// Numbers are written with `%.0f` (integers) or `%.17g` (others), never with
// `tostring`/`cjson.encode` (14 significant digits): every stored number
// reads back as the same double. A stored value is read with `cjson.decode`
// only after a strict check that JSON.parse would read it too (cjson also
// takes `0x10`, `01`, `inf`, `nan`): what JSON.parse refuses is repaired,
// as the TypeScript path repairs it. A value in the layout every writer uses
// (JSON.stringify's, this script's) is read with one pattern, without cjson.
// (Lua's math.min/max may pick +0 where JS picks −0; no answer or state
// differs: numbers are written as `x + 0`, as JSON.stringify writes −0 as 0.)
//
// The entry is the store's hash (`v` the value, `n` its version, bumped on
// every write as the compare-and-set script does, so that a read → CAS writer
// of another version of this library sees the change); a fresh state deletes
// the key.

import { WRITE_ENTRY } from "./scripts.ts";

/**
 * KEYS[1]: the limiter key's entry. ARGV (all strings): 1 algorithm
 * (`tb`, `fw`, `sw`), 2 limit, 3 interval, 4 capacity (burst or limit),
 * 5 cost, 6 peek (`"1"`), 7 reset (`"1"`), 8 maxWait (`"0"` when none),
 * 9 refund (`""` when none), 10 upTo (`""` when none), 11 expiry (ms; a
 * written state is kept at least until it equals a fresh one, plus the skew),
 * 12 the time (ms; `""`: the server's `TIME`).
 *
 * Replies with a JSON array `[allowed (0|1), remaining, resetAfter,
 * retryAfter, at (null unless a reservation), granted (null unless upTo),
 * repaired (0|1)]`.
 */
export const RATE_SCRIPT = String.raw`local k = KEYS[1]
local kind, L, I, CAP = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cost, peek, reset = tonumber(ARGV[5]), ARGV[6] == '1', ARGV[7] == '1'
local maxWait, refund, upTo = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local floor, ceil, min, max = math.floor, math.ceil, math.min, math.max
local now = tonumber(ARGV[12])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end
local function fin(v) return type(v) == 'number' and v == v and v > -math.huge and v < math.huge end
local function cnt(v) return fin(v) and v >= 0 and v <= 9007199254740991 and v == floor(v) end
local function floorDiv(a, b)
  local q = floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function ceilDiv(a, b) return -floorDiv(-a, b) end
local function wstart(t) return floor(t / I) * I end
-- A JSON number (as JSON.parse reads it: no hex, no leading zero, no inf/nan, no '+', no '.5').
local function isJsonNumber(w)
  local i = 1
  if string.sub(w, 1, 1) == '-' then i = 2 end
  local d = string.match(w, '^%d+', i)
  if not d or (#d > 1 and string.sub(d, 1, 1) == '0') then return false end
  i = i + #d
  if string.sub(w, i, i) == '.' then
    d = string.match(w, '^%d+', i + 1)
    if not d then return false end
    i = i + 1 + #d
  end
  local c = string.sub(w, i, i)
  if c == 'e' or c == 'E' then
    i = i + 1
    c = string.sub(w, i, i)
    if c == '+' or c == '-' then i = i + 1 end
    d = string.match(w, '^%d+', i)
    if not d then return false end
    i = i + #d
  end
  return i == #w + 1
end
local function jnum(w)
  if isJsonNumber(w) then return tonumber(w) end
end
-- Whether JSON.parse reads raw, as far as cjson cannot tell: no control character in a string,
-- bare words only literals and JSON numbers.
local function strict(raw)
  local s = raw
  if string.find(s, '\\', 1, true) then s = string.gsub(s, '\\.', '_') end
  if string.find(s, '[%z\1-\31]') then
    for str in string.gmatch(s, '"[^"]*"') do
      if string.find(str, '[%z\1-\31]') then return false end
    end
  end
  s = string.gsub(s, '"[^"]*"', '')
  for w in string.gmatch(s, '[^ \t\n\r%[%]{}:,"]+') do
    if w ~= 'true' and w ~= 'false' and w ~= 'null' and not isJsonNumber(w) then return false end
  end
  return true
end
-- The value as written (JSON.stringify's or this script's layout), without cjson: nil if not.
local function canonical(raw)
  local a, b, c
  if kind == 'tb' then
    a, b = string.match(raw, '^{"kind":"tb","at":([^,}]+),"level":([^,}]+)}$')
    a, b = a and jnum(a), b and jnum(b)
    if a and b then return {kind = 'tb', at = a, level = b} end
  elseif kind == 'fw' then
    a, b = string.match(raw, '^{"kind":"fw","start":([^,}]+),"count":([^,}]+)}$')
    a, b = a and jnum(a), b and jnum(b)
    if a and b then return {kind = 'fw', start = a, count = b} end
  else
    a, b, c = string.match(raw, '^{"kind":"sw","start":([^,}]+),"count":([^,}]+),"previous":([^,}]+)}$')
    a, b, c = a and jnum(a), b and jnum(b), c and jnum(c)
    if a and b and c then return {kind = 'sw', start = a, count = b, previous = c} end
  end
end
-- readStoredLimit
local ty = redis.call('TYPE', k)['ok']
local n, state, repaired = '', nil, false
if ty == 'hash' then
  local r = redis.call('HMGET', k, 'v', 'n')
  n = r[2] or ''
  local raw = r[1]
  if not raw then
    repaired = true
  else
    local v = canonical(raw)
    local ok = v ~= nil
    if not ok and strict(raw) then ok, v = pcall(cjson.decode, raw) end
    if not (ok and v == cjson.null) then
      if ok and type(v) == 'table' and (kind == 'tb'
        and v.kind == 'tb' and fin(v.at) and v.at >= 0 and fin(v.level)
        or kind ~= 'tb' and v.kind == kind and cnt(v.start) and math.fmod(v.start, I) == 0
          and cnt(v.count) and (kind == 'fw' or cnt(v.previous))) then
        if kind == 'tb' then state = {at = v.at, level = v.level}
        elseif kind == 'fw' then state = {start = v.start, count = v.count}
        else state = {start = v.start, count = v.count, previous = v.previous} end
      else
        repaired = true
      end
    end
  end
elseif ty ~= 'none' then
  n = '!' .. ty
  repaired = true
end
-- boundLimitState (bounded: the stored value changed, so it is written even by a denial or a peek)
local skew = min(I, 5000)
local bounded = false
if state then
  if kind == 'tb' then
    local level = max(-L * I, min(state.level, CAP * I))
    local at = min(state.at, now + min(I, 2147483647) + skew)
    bounded = at ~= state.at or level ~= state.level
    state = {at = at, level = level}
  else
    local latest = wstart(now + skew) + I
    state = {start = state.start, count = state.count, previous = state.previous}
    if state.start > latest then
      state.start = wstart(now)
      bounded = true
    end
  end
end
-- takePermits
local function advance(s)
  if kind == 'tb' then
    local cap = CAP * I
    if s == nil then return {at = now, level = cap} end
    if now <= s.at then return {at = s.at, level = min(s.level, cap)} end
    return {at = now, level = min(cap, s.level + (now - s.at) * L)}
  end
  local g = wstart(now)
  if kind == 'fw' then
    if s == nil or s.start < g then return {start = g, count = 0} end
    return {start = s.start, count = s.count}
  end
  if s == nil then return {start = g, count = 0, previous = 0} end
  if s.start >= g then return {start = s.start, count = s.count, previous = s.previous} end
  local p = 0
  if s.start == g - I then p = s.count end
  return {start = g, count = 0, previous = p}
end
local function isFresh(s)
  if kind == 'tb' then return s.at <= now and s.level >= CAP * I end
  return s.start <= now and s.count == 0 and (kind == 'fw' or s.previous == 0)
end
local function fitsSliding(s, c, t)
  return s.previous * (I - (t - s.start)) + (s.count + c) * I <= L * I
end
local function earliest(s, c)
  if kind == 'tb' then
    local need = c * I
    local t = max(now, s.at)
    if s.level >= need then return t end
    return t + ceilDiv(need - s.level, L)
  end
  local t0 = max(now, s.start)
  if kind == 'fw' then
    if s.count + c <= L then return t0 end
    return s.start + I
  end
  if fitsSliding(s, c, t0) then return t0 end
  local room = (L - s.count - c) * I
  if room >= 0 and s.previous > 0 then
    local e = I - floorDiv(room, s.previous)
    if e < I then return max(t0, s.start + e) end
  end
  local nxt = s.start + I
  local e = 0
  if s.count ~= 0 then e = max(0, I - floorDiv((L - c) * I, s.count)) end
  return nxt + e
end
local function taken(s, c, t)
  if kind == 'tb' then
    if t > s.at then
      s.level = min(CAP * I, s.level + (t - s.at) * L)
      s.at = t
    end
    s.level = s.level - c * I
    return s
  end
  local W = wstart(t)
  if W ~= s.start then
    if kind == 'sw' then
      if W == s.start + I then s.previous = s.count else s.previous = 0 end
    end
    s.start = W
    s.count = 0
  end
  s.count = s.count + c
  return s
end
local function refunded(s, c, at)
  if kind == 'tb' then return {at = s.at, level = min(CAP * I, s.level + c * I)} end
  local W = wstart(at)
  if s.start == W then
    return {start = s.start, count = max(0, s.count - c), previous = s.previous}
  end
  if kind == 'sw' and s.start == W + I then
    return {start = s.start, count = s.count, previous = max(0, s.previous - c)}
  end
  return s
end
local function describe(s)
  if kind == 'tb' then
    local cap = CAP * I
    local rem = 0
    if s.level > 0 and s.at <= now then rem = floorDiv(s.level, I) end
    return rem, max(0, s.at - now) + ceilDiv(cap - s.level, L)
  elseif s.start > now then
    return 0, s.start + I - now
  elseif kind == 'fw' then
    local fr = 0
    if s.count > 0 then fr = s.start + I - now end
    return max(0, L - s.count), fr
  end
  local free = L * I - s.previous * (I - (now - s.start)) - s.count * I
  local fr = 0
  if s.count > 0 then fr = s.start + 2 * I - now elseif s.previous > 0 then fr = s.start + I - now end
  return max(0, floorDiv(free, I)), fr
end
local st = state
if reset then st = nil end
local s = advance(st)
-- out: the new state; view: the state described (default out); collapse: a fresh state is none.
local out, allowed, wait, at, granted, view, collapse
if refund ~= nil then
  out, allowed, wait, at, granted, collapse = refunded(s, cost, refund), false, 0, now, 0, true
else
  local t = earliest(s, cost)
  wait = t - now
  if peek or reset then
    -- A peek leaves the state as it was (a reset: none).
    out, allowed, at, granted, view, collapse = st, wait == 0, t, 0, s, false
  elseif wait == 0 then
    local c = cost
    if upTo ~= nil and upTo > cost then
      local rem = describe(s)
      c = min(upTo, CAP, rem)
    end
    out, allowed, at, granted, collapse = taken(s, c, t), true, t, c, true
  elseif wait <= maxWait then
    out, allowed, at, granted, collapse = taken(s, cost, t), true, t, cost, true
  else
    out, allowed, at, granted, view, collapse = st, false, t, 0, s, true
  end
end
local rem, fr = describe(view or out)
if collapse and out ~= nil and isFresh(out) then out = nil end
local function num(x)
  x = x + 0
  if x == floor(x) and x > -1e21 and x < 1e21 then return string.format('%.0f', x) end
  return string.format('%.17g', x)
end
local retry = ceil(wait)
-- rateLimitLife: how long the written state must be kept (until it equals a fresh one, + skew)
local function life(s)
  local u
  if kind == 'tb' then u = max(0, s.at - now) + ceilDiv(CAP * I - s.level, L)
  elseif kind == 'fw' then u = s.start + I - now
  else u = s.start + 2 * I - now end
  return ceil(max(0, u)) + skew
end
if out ~= state or repaired or bounded then
  if out == nil then
    redis.call('DEL', k)
  else
    local v
    if kind == 'tb' then
      v = '{"kind":"tb","at":' .. num(out.at) .. ',"level":' .. num(out.level) .. '}'
    elseif kind == 'fw' then
      v = '{"kind":"fw","start":' .. num(out.start) .. ',"count":' .. num(out.count) .. '}'
    else
      v = '{"kind":"sw","start":' .. num(out.start) .. ',"count":' .. num(out.count)
        .. ',"previous":' .. num(out.previous) .. '}'
    end
    ${WRITE_ENTRY}
    redis.call('PEXPIRE', k, string.format('%.0f', max(tonumber(ARGV[11]), life(out))))
  end
end
local a = 'null'
if allowed and retry > 0 then a = num(at) end
local g = 'null'
if upTo ~= nil then g = num(granted) end
local ok = '0'
if allowed then ok = '1' end
local rp = '0'
if repaired then rp = '1' end
return '[' .. ok .. ',' .. num(rem) .. ',' .. num(fr) .. ',' .. num(retry) .. ',' .. a .. ',' .. g
  .. ',' .. rp .. ']'`;
