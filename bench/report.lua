-- wrk script for every bench/ run: at the end, print one machine-readable line
-- "WRK-JSON {...}" with the totals, the error counters and the latency percentiles
-- (microseconds) that bench/load.py parses. No request() or response() hook, so wrk
-- does not parse the headers or bodies (that would slow the load generator).

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK-JSON {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
      '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
      '"lat_mean_us": %.1f, "lat_max_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
      latency:percentile(99)))
end
