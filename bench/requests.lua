-- wrk script of the harper benchmarks (bench/run.py writes the request files).
--
-- Usage: wrk ... -s bench/requests.lua URL -- REQUEST_FILE
-- REQUEST_FILE has one request per line: METHOD<TAB>PATH, or METHOD<TAB>PATH<TAB>JSON-BODY.
-- Every request is formatted once, in init(); each thread starts at a different line and
-- cycles through them all. done() prints the figures as one line starting with WRK_RESULT,
-- followed by a JSON object, which bench/harness.py reads.

local next_thread = 0
local requests = {}
local position = 0

function setup(thread)
   thread:set("thread_number", next_thread)
   next_thread = next_thread + 1
end

local function format_line(line)
   local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
   if method == nil then
      error("bad request line: " .. line)
   end
   if body == "" then
      return wrk.format(method, path)
   end
   local headers = {}
   for name, value in pairs(wrk.headers) do
      headers[name] = value
   end
   headers["Content-Type"] = "application/json"
   return wrk.format(method, path, headers, body)
end

function init(args)
   for line in io.lines(args[1]) do
      requests[#requests + 1] = format_line(line)
   end
   if #requests == 0 then
      error("no requests in " .. args[1])
   end
   -- Spread the threads over the file so they do not walk in step.
   position = ((thread_number or 0) * 7919) % #requests
end

function request()
   position = position % #requests + 1
   return requests[position]
end

function done(summary, latency, _)
   local errors = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
         .. '"max_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, '
         .. '"status_errors": %d, "timeouts": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
