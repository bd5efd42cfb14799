-- Query by type + q over the loaded entities, at most 100 returned.
package.path = package.path .. ";./bench/load/?.lua"
local common = require("common")
common.seed_per_thread()

request = function()
  local w = math.random(10, 150)
  local path = string.format("/ngsi-ld/v1/entities?type=Streetlight&limit=100&q=powerRating%%3E%d%%3Bstatus==%%22ok%%22%%3BlampTechnology==%%22LED%%22", w)
  return wrk.format("GET", path, common.headers())
end

done = common.report
