-- Single-entity GET by id, random ids among the loaded entities.
package.path = package.path .. ";./bench/load/?.lua"
local common = require("common")
common.seed_per_thread()
local n = tonumber(os.getenv("JUMEAU_BENCH_ENTITIES") or "100000")

request = function()
  return wrk.format("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:b" .. math.random(0, n - 1), common.headers())
end

done = common.report
