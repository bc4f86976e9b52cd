"""Lua scripts: each keeps one project's keys consistent in one round trip.

Strings are compared byte by byte (``lt``), never with Lua's ``<``, which
follows the server's locale; byte order of UTF-8 is code-point order, the
order Python and the other backends use. Times travel as zero-padded
microsecond strings for the same reason (and because cjson rounds large
numbers).
"""

COMMON = r"""
local function lt(a, b)
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return la < lb
end

local function text(s)
  if s == nil or s == cjson.null then return "" end
  return s
end

-- the project's best row: summary of its first file in all() order, newest time
local function recompute(files_key, best_key)
  local vals = redis.call('HVALS', files_key)
  if #vals == 0 then
    redis.call('DEL', best_key)
    return ""
  end
  local b = nil
  for _, raw in ipairs(vals) do
    local p = cjson.decode(raw)
    if b == nil then
      b = {s = text(p.s), t = p.t, k = p.k, f = p.f}
    else
      if lt(b.k, p.k) or (b.k == p.k and lt(p.f, b.f)) then
        b.k, b.f, b.s = p.k, p.f, text(p.s)
      end
      if lt(b.t, p.t) then b.t = p.t end
    end
  end
  local best = cjson.encode(b)
  redis.call('SET', best_key, best)
  return best
end

local function project_save(files_key, best_key, f, json)
  local old = redis.call('HGET', files_key, f)
  redis.call('HSET', files_key, f, json)
  local braw = redis.call('GET', best_key)
  if old or not braw then
    return recompute(files_key, best_key)
  end
  local p = cjson.decode(json)
  local b = cjson.decode(braw)
  if lt(b.k, p.k) or (b.k == p.k and lt(p.f, b.f)) then
    b.k, b.f, b.s = p.k, p.f, text(p.s)
  end
  if lt(b.t, p.t) then b.t = p.t end
  local best = cjson.encode(b)
  redis.call('SET', best_key, best)
  return best
end

-- returns {removed 0/1, best json or ""}
local function project_clear(files_key, best_key, f)
  local removed = redis.call('HGET', files_key, f)
  if not removed then
    return {0, redis.call('GET', best_key) or ""}
  end
  redis.call('HDEL', files_key, f)
  local braw = redis.call('GET', best_key)
  local p = cjson.decode(removed)
  if braw then
    local b = cjson.decode(braw)
    if b.f ~= f and b.t ~= p.t then return {1, braw} end
  end
  return {1, recompute(files_key, best_key)}
end

local function set_summary(summary_key, name, best)
  if best == "" then redis.call('HDEL', summary_key, name)
  else redis.call('HSET', summary_key, name, best) end
end
"""

#: cluster: one project's keys. KEYS: files, best. ARGV: filename, json. Returns the best row.
PROJECT_SAVE = COMMON + "return project_save(KEYS[1], KEYS[2], ARGV[1], ARGV[2])"

#: cluster: one project's keys. KEYS: files, best. ARGV: filename. Returns {removed, best}.
PROJECT_CLEAR = COMMON + "return project_clear(KEYS[1], KEYS[2], ARGV[1])"

#: standalone: everything in one round trip, a move between projects included.
#: KEYS: index, summary, files, best. ARGV: prefix, filename, json, name.
SAVE = (
    COMMON
    + r"""
local index, summary, prefix, f, json, name = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local old = redis.call('HGET', index, f)
if old then
  local o = cjson.decode(old)
  if o.n ~= name then
    local r = project_clear(prefix .. '{' .. o.n .. '}:files', prefix .. '{' .. o.n .. '}:best', f)
    set_summary(summary, o.n, r[2])
  end
end
local best = project_save(KEYS[3], KEYS[4], f, json)
redis.call('HSET', index, f, json)
redis.call('HSET', summary, name, best)
return 1
"""
)

#: standalone. KEYS: index, summary. ARGV: prefix, filename.
CLEAR = (
    COMMON
    + r"""
local index, summary, prefix, f = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local old = redis.call('HGET', index, f)
if not old then return 0 end
local o = cjson.decode(old)
local r = project_clear(prefix .. '{' .. o.n .. '}:files', prefix .. '{' .. o.n .. '}:best', f)
redis.call('HDEL', index, f)
set_summary(summary, o.n, r[2])
return 1
"""
)

#: KEYS: lock. ARGV: token. Deletes the lock only if we still hold it.
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

#: KEYS: source1, target1, source2, target2, ... all in one slot.
RENAME_PAIRS = "for i = 1, #KEYS, 2 do redis.call('RENAME', KEYS[i], KEYS[i + 1]) end return #KEYS / 2"
