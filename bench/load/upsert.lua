-- Batch upsert (options=update): 100 existing entities per request, one changed attribute each
-- (a dimming level from 0 to 100 that cycles: about 1 % of writes find that level already stored).
package.path = package.path .. ";./bench/load/?.lua"
local common = require("common")
common.seed_per_thread()
local n = tonumber(os.getenv("JUMEAU_BENCH_ENTITIES") or "100000")
local counter = 0

request = function()
  counter = counter + 1
  local parts = {}
  for i = 1, 100 do
    local k = math.random(0, n - 1)
    parts[i] = string.format(
      '{"id":"urn:ngsi-ld:Streetlight:b%d","type":"Streetlight","dimmingLevel":{"type":"Property","value":%d,"unitCode":"P1"}}',
      k, (counter * 7 + i) % 101)
  end
  local h = common.headers()
  h["Content-Type"] = "application/json"
  return wrk.format("POST", "/ngsi-ld/v1/entityOperations/upsert?options=update", h, "[" .. table.concat(parts, ",") .. "]")
end

done = common.report
