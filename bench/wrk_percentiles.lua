-- bench/wrk_percentiles.lua — after wrk's run, print its latency percentiles (µs) and
-- counts in a form bench/report.py reads (wrk --latency shows no p95 and no p99.9).
-- These are the figures wrk itself reports: wrk 4.1 has already applied its
-- stats_correct() to the latency histogram when done() is called.
done = function(summary, latency, requests)
  io.write("wrk-percentiles\n")
  for _, p in ipairs({50, 90, 95, 99, 99.9}) do
    io.write(string.format("p%g %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("requests %d\n", summary.requests))
  local e = summary.errors
  io.write(string.format("errors %d\n", e.connect + e.read + e.write + e.status + e.timeout))
end
