// Closed-model load for throughput figures: a fixed number of connections kept busy for a fixed
// time, bounded in both. Answers requests per second and latency percentiles in milliseconds.
import autocannon from "autocannon";

export async function drive({ url, method = "GET", headers = {}, body, connections = 50, seconds = 10 }) {
  const result = await autocannon({
    url,
    method,
    headers,
    body,
    connections,
    duration: seconds,
    timeout: 10,
  });
  const byStatus = {};
  for (const [status, count] of Object.entries(result.statusCodeStats ?? {})) byStatus[status] = count.count;
  return {
    rps: Math.round(result.requests.total / seconds),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    statuses: byStatus,
  };
}
