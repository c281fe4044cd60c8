-- wrk script: GET /api/v1/registrations/{number}, cycling through real numbers.
--   wrk -c32 -d10s -s bench/verify.lua http://127.0.0.1:PORT -- NUMBERS_FILE [API_KEY [DELAY_MS]]
-- DELAY_MS: used by bench/mixed.py, which appends a delay() returning it (each connection waits
-- that long between requests); defined here it would slow wrk down even when 0.
-- NUMBERS_FILE holds one registration number a line; each thread starts at its own offset.
-- done() prints one line "BENCH_RESULT {json}" with the counts, non-2xx answers included
-- (wrk itself counts only statuses above 399 as errors).

local threads = {}
local counter = 0

function setup(thread)
   thread:set("thread_index", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   numbers = {}
   for line in io.lines(args[1]) do
      if #line > 0 then
         table.insert(numbers, line)
      end
   end
   if args[2] and #args[2] > 0 then
      wrk.headers["Authorization"] = "Bearer " .. args[2]
   end
   wrk.headers["Accept"] = "application/json"
   position = (thread_index * 7919) % #numbers
   pause = tonumber(args[3] or "0") or 0
   non2xx = 0
   statuses = {}
end

function request()
   position = position % #numbers + 1
   return wrk.format("GET", "/api/v1/registrations/" .. numbers[position])
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      statuses[status] = (statuses[status] or 0) + 1
      first_status = first_status or status
   end
end

function done(summary, latency, requests)
   local non2xx_total = 0
   local example = 0
   for _, thread in ipairs(threads) do
      non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
      example = thread:get("first_status") or example
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"non2xx":%d,"example_status":%d,' ..
      '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      non2xx_total, example,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
