// Closed-model load for throughput figures: a fixed number of connections kept busy for a fixed
// time, bounded in both. Answers requests per second and latency percentiles in milliseconds.
// `request(i)` may shape each request (fresh Idempotency-Key, client address, SKU).
import autocannon from "autocannon";

export async function drive({
  url,
  method = "GET",
  headers = {},
  body,
  request,
  connections = 50,
  seconds = 10,
}) {
  let sequence = 0;
  const requests = request
    ? [
        {
          method,
          setupRequest(req) {
            const shaped = request(sequence++);
            return { ...req, ...shaped, headers: { ...req.headers, ...shaped.headers } };
          },
        },
      ]
    : undefined;
  const result = await autocannon({
    url,
    method,
    headers,
    body,
    requests,
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
