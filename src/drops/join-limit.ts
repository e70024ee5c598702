import { clientKey } from "../http/client-key";
import { AppError } from "../shared/errors";
import { refusedByLimiter } from "../shared/limiter";

const PERIOD_SECONDS = 60;
/** This machine: the local runtime gives every request one of these, Cloudflare never does. */
const LOOPBACK = new Set(["127.0.0.1", "0:0:0:0::/64"]);

/**
 * Spends one of the client's joins (JOIN_LIMITER: 20 a minute per location, an IPv6 client counted
 * by its /64), before anything a join costs: the bot check, signing, a place in the room's line.
 * A request without Cloudflare's connecting address (a test, another worker) or from this machine
 * (local development, a load test's thousands of buyers) is not counted: behind Cloudflare every
 * request has an address, and never a loopback one. A client the limiter refused is refused again by
 * this isolate alone for the rest of that period (see refusedByLimiter).
 */
export async function spendJoin(env: Env, headers: Headers): Promise<void> {
  if (!headers.has("CF-Connecting-IP")) return;
  const client = clientKey(headers);
  if (LOOPBACK.has(client)) return;
  if (!(await refusedByLimiter("join", env.JOIN_LIMITER, client, PERIOD_SECONDS))) return;
  throw new AppError("rate_limited", {
    detail: "Too many joins from this client; retry after the period",
    headers: { "Retry-After": String(PERIOD_SECONDS) },
  });
}
