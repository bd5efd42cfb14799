-- Shared helpers of the wrk scripts: the tenant and key headers, and a p95 report.
local M = {}

-- wrk runs each thread in its own Lua state, and LuaJIT seeds math.random the same way in
-- every state: without this, all threads would send the same requests in the same order
-- (the same entities read, the same values written twice, the second write changing
-- nothing). Each script calls this once; every thread then draws its own sequence.
local threads = 0
function M.seed_per_thread()
  setup = function(thread)
    thread:set("thread_no", threads)
    threads = threads + 1
  end
  init = function(args)
    math.randomseed(1 + 7919 * (tonumber(thread_no) or 0))
  end
end

function M.headers()
  local h = {}
  h["NGSILD-Tenant"] = os.getenv("JUMEAU_BENCH_TENANT") or "bench"
  h["Authorization"] = "Bearer " .. (os.getenv("JUMEAU_ADMIN_KEY") or "")
  return h
end

function M.report(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end

return M
