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

-- the search rows (g): each distinct summary of the project -> {k, f} of its first file
-- in all() order; search matches these, never the files
local function group_add(g, p)
  local s, e = text(p.s), g[text(p.s)]
  if e == nil or lt(e[1], p.k) or (e[1] == p.k and lt(p.f, e[2])) then g[s] = {p.k, p.f} end
end

-- the project's best row: summary of its first file in all() order, newest time,
-- and its search rows (g)
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
      b = {s = text(p.s), t = p.t, k = p.k, f = p.f, g = {}}
    else
      if lt(b.k, p.k) or (b.k == p.k and lt(p.f, b.f)) then
        b.k, b.f, b.s = p.k, p.f, text(p.s)
      end
      if lt(b.t, p.t) then b.t = p.t end
    end
    group_add(b.g, p)
  end
  local best = cjson.encode(b)
  redis.call('SET', best_key, best)
  return best, b
end

-- a re-saved file forces a full recompute (O(files)) only when it was the best (of the
-- project or of its summary's search row) and moved down or changed summary, or held
-- the newest time and got older: re-saving a project stays linear.
local function project_save(files_key, best_key, f, json)
  local old = redis.call('HGET', files_key, f)
  redis.call('HSET', files_key, f, json)
  local braw = redis.call('GET', best_key)
  if not braw then
    return recompute(files_key, best_key)
  end
  local p = cjson.decode(json)
  local b = cjson.decode(braw)
  if old then
    local o = cjson.decode(old)
    local og = b.g[text(o.s)]
    if og == nil or (b.f == f and lt(p.k, o.k)) or (b.t == o.t and lt(p.t, o.t))
      or (og[2] == f and (text(p.s) ~= text(o.s) or lt(p.k, o.k))) then
      return recompute(files_key, best_key)
    end
    if b.f == f then b.k, b.s = p.k, text(p.s) end
    if og[2] == f then og[1] = p.k end
  end
  if lt(b.k, p.k) or (b.k == p.k and lt(p.f, b.f)) then
    b.k, b.f, b.s = p.k, p.f, text(p.s)
  end
  if lt(b.t, p.t) then b.t = p.t end
  group_add(b.g, p)
  local best = cjson.encode(b)
  redis.call('SET', best_key, best)
  return best, b
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
    local og = b.g[text(p.s)]
    if b.f ~= f and b.t ~= p.t and og and og[2] ~= f then return {1, braw} end
  end
  return {1, (recompute(files_key, best_key))}
end

-- the index rows of a project: its summary row, and apart its search rows (g), so
-- that summary() does not read them, flat: summary NUL sort key NUL filename NUL ...
-- (no summary, sort key or filename holds a NUL), which Python splits far faster
-- than it decodes JSON
-- a project appearing or vanishing counts in the index's ``:serial`` (beside ``:summary``,
-- in the index's slot): the project list's change marker
local function set_summary(summary_key, search_key, name, best, decoded)
  local serial = string.sub(summary_key, 1, -8) .. 'serial'
  if best == "" then
    if redis.call('HDEL', summary_key, name) == 1 then redis.call('INCR', serial) end
    redis.call('HDEL', search_key, name)
  else
    local b = decoded or cjson.decode(best)
    local flat = {}
    for s, e in pairs(b.g) do
      flat[#flat + 1] = s
      flat[#flat + 1] = e[1]
      flat[#flat + 1] = e[2]
    end
    redis.call('HSET', search_key, name, table.concat(flat, '\0'))
    b.g = nil
    if redis.call('HSET', summary_key, name, cjson.encode(b)) == 1 then redis.call('INCR', serial) end
  end
end
"""

#: cluster: one project's keys. KEYS: files, best, version. ARGV: filename, json.
#: Returns {version, best}: the project's state right after this write, numbered.
PROJECT_SAVE = (
    COMMON
    + r"""
local best = project_save(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return {redis.call('INCR', KEYS[3]), best}
"""
)

#: cluster: one project's keys. KEYS: files, best, version. ARGV: filename.
#: Returns {version, best}; the version only moves when a file was removed.
PROJECT_CLEAR = (
    COMMON
    + r"""
local r = project_clear(KEYS[1], KEYS[2], ARGV[1])
if r[1] == 0 then return {tonumber(redis.call('GET', KEYS[3]) or '0'), r[2]} end
return {redis.call('INCR', KEYS[3]), r[2]}
"""
)

#: cluster, the index slot: apply one project write, unless a newer one of the
#: same project got there first (writers reach the index in any order).
#: KEYS: index, summary, versions, file versions, floor, search.
#: ARGV: name, version, best ("" = no files left), filename, json ("" = cleared).
INDEX_APPLY = (
    COMMON
    + r"""
local index, summary, versions, fversions, floor, search = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local name, v, best, f, json = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
if v <= tonumber(redis.call('HGET', floor, name) or '0') then return 0 end
if v > tonumber(redis.call('HGET', versions, name) or '0') then
  redis.call('HSET', versions, name, v)
  set_summary(summary, search, name, best)
end
local field = name .. '\0' .. f
if v <= tonumber(redis.call('HGET', fversions, field) or '0') then return 1 end
redis.call('HSET', fversions, field, v)
if json ~= "" then
  redis.call('HSET', index, f, json)
else
  local cur = redis.call('HGET', index, f)
  if cur and cjson.decode(cur).n == name then redis.call('HDEL', index, f) end
end
return 1
"""
)

#: cluster, one slot, a plain reload's switch. KEYS: groups of five (staged files,
#: live files, staged best, live best, version); ARGV: per group "1" = take the
#: staged keys, "0" = the project is gone. Returns each project's new version.
PROJECT_SWAP = r"""
local out = {}
for i = 1, #KEYS, 5 do
  if ARGV[(i + 4) / 5] == '1' then
    redis.call('RENAME', KEYS[i], KEYS[i + 1])
    redis.call('PERSIST', KEYS[i + 1])
    redis.call('RENAME', KEYS[i + 2], KEYS[i + 3])
    redis.call('PERSIST', KEYS[i + 3])
  else
    redis.call('DEL', KEYS[i + 1], KEYS[i + 3])
  end
  out[#out + 1] = redis.call('INCR', KEYS[i + 4])
end
return out
"""

#: cluster, the index slot, a plain reload's switch. KEYS: staged and live index,
#: summary, versions, floor, search, then the live file versions. A project written
#: after its PROJECT_SWAP (its version is above the reload's) keeps its live rows.
INDEX_SWAP = r"""
local staged_summary, live_summary, staged_versions, live_versions = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local live_search = KEYS[10]
local newer = {}
local reloaded = redis.call('HGETALL', staged_versions)
for i = 1, #reloaded, 2 do
  local live = tonumber(redis.call('HGET', live_versions, reloaded[i]) or '0')
  if live > tonumber(reloaded[i + 1]) then
    newer[#newer + 1] = {reloaded[i], live, redis.call('HGET', live_summary, reloaded[i]),
                         redis.call('HGET', live_search, reloaded[i])}
  end
end
for i = 1, 9, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i + 1])
    redis.call('PERSIST', KEYS[i + 1])
  else
    redis.call('DEL', KEYS[i + 1])
  end
end
redis.call('DEL', KEYS[11])
for _, row in ipairs(newer) do
  redis.call('HSET', live_versions, row[1], row[2])
  if row[3] then redis.call('HSET', live_summary, row[1], row[3])
  else redis.call('HDEL', live_summary, row[1]) end
  if row[4] then redis.call('HSET', live_search, row[1], row[4])
  else redis.call('HDEL', live_search, row[1]) end
end
redis.call('INCR', string.sub(live_summary, 1, -8) .. 'serial')
return #newer
"""

#: standalone: everything in one round trip, a move between projects included; each
#: project written counts the write in its ``:version`` (its change marker).
#: KEYS: index, summary, files, best, search, version. ARGV: prefix, filename, json, name.
SAVE = (
    COMMON
    + r"""
local index, summary, search, prefix, f, json, name = KEYS[1], KEYS[2], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local old = redis.call('HGET', index, f)
if old then
  local o = cjson.decode(old)
  if o.n ~= name then
    local r = project_clear(prefix .. '{' .. o.n .. '}:files', prefix .. '{' .. o.n .. '}:best', f)
    if r[1] == 1 then redis.call('INCR', prefix .. '{' .. o.n .. '}:version') end
    set_summary(summary, search, o.n, r[2])
  end
end
local best, b = project_save(KEYS[3], KEYS[4], f, json)
redis.call('INCR', KEYS[6])
redis.call('HSET', index, f, json)
set_summary(summary, search, name, best, b)
return 1
"""
)

#: standalone. KEYS: index, summary, search. ARGV: prefix, filename.
CLEAR = (
    COMMON
    + r"""
local index, summary, search, prefix, f = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]
local old = redis.call('HGET', index, f)
if not old then return 0 end
local o = cjson.decode(old)
local r = project_clear(prefix .. '{' .. o.n .. '}:files', prefix .. '{' .. o.n .. '}:best', f)
if r[1] == 1 then redis.call('INCR', prefix .. '{' .. o.n .. '}:version') end
redis.call('HDEL', index, f)
set_summary(summary, search, o.n, r[2])
return 1
"""
)

#: KEYS: lock. ARGV: token. Deletes the lock only if we still hold it.
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

#: KEYS: lock. ARGV: token, milliseconds. Extends the lease only if we still hold it.
RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
