-- Geo-query: entities within a random ~300 m square polygon inside the loaded area.
package.path = package.path .. ";./bench/load/?.lua"
local common = require("common")
common.seed_per_thread()

request = function()
  local lon = 2.20 + math.random() * 0.25
  local lat = 48.80 + math.random() * 0.10
  local d = 0.003
  local coords = string.format("[[[%f,%f],[%f,%f],[%f,%f],[%f,%f],[%f,%f]]]",
    lon, lat, lon + d, lat, lon + d, lat + d, lon, lat + d, lon, lat)
  local path = "/ngsi-ld/v1/entities?type=Streetlight&limit=100&georel=within&geometry=Polygon&coordinates=" .. coords:gsub("%[", "%%5B"):gsub("%]", "%%5D"):gsub(",", "%%2C")
  return wrk.format("GET", path, common.headers())
end

done = common.report
