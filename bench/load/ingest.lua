-- Sensor ingestion: POST /ingest/http with batches of 100 uplinks in the generic format,
-- each with a raw Elsys ERS CO2 payload (hex) that the native decoder decodes.
-- Devices 00c0000000000000 + (0 .. JUMEAU_BENCH_DEVICES-1) must be registered (bench/load/ingest.py does it).
-- Every uplink has its own (devEui, fCnt): threads and requests never repeat a frame; the
-- reception time is the current time, as a gateway stamps it.
package.path = package.path .. ";./bench/load/?.lua"
local common = require("common")
local devices = tonumber(os.getenv("JUMEAU_BENCH_DEVICES") or "1000")
local batch = tonumber(os.getenv("JUMEAU_BENCH_BATCH") or "100")
local threads = {}
local thread_no = 0

function setup(thread)
  thread:set("tid", thread_no)
  thread_no = thread_no + 1
  table.insert(threads, thread)
end

local counter = 0

request = function()
  local t = tonumber(tid) or 0
  local parts = {}
  for i = 1, batch do
    -- A global sequence number per uplink: thread in the low bits.
    local k = (counter * batch + i - 1) * 8 + t
    local dev = k % devices
    local fcnt = 1 + math.floor(k / devices)
    local temp = 200 + (k % 100)
    parts[i] = string.format(
      '{"devEui":"00c0%012x","time":"%s","fCnt":%d,"fPort":1,"hex":"01%02x%02x0229","gatewayId":"0016c001f153a14c","rssi":-80,"snr":6.5}',
      dev, os.date("!%Y-%m-%dT%H:%M:%SZ"), fcnt,
      math.floor(temp / 256), temp % 256)
  end
  counter = counter + 1
  local h = common.headers()
  h["Content-Type"] = "application/json"
  return wrk.format("POST", "/ingest/http", h, "[" .. table.concat(parts, ",") .. "]")
end

done = common.report
