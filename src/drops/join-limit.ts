import { clientKey } from "../http/client-key";
import { AppError } from "../shared/errors";

const PERIOD_SECONDS = 60;

/**
 * Spends one of the client's joins (JOIN_LIMITER: 20 a minute per location, an IPv6 client counted
 * by its /64), before anything a join costs: the bot check, signing, a place in the room's line.
 * A request that reached the worker without Cloudflare's connecting address (a test, another
 * worker) is not counted: behind Cloudflare every request has one.
 */
export async function spendJoin(env: Env, headers: Headers): Promise<void> {
  if (!headers.has("CF-Connecting-IP")) return;
  const { success } = await env.JOIN_LIMITER.limit({ key: clientKey(headers) });
  if (success) return;
  throw new AppError("rate_limited", {
    detail: "Too many joins from this client; retry after the period",
    headers: { "Retry-After": String(PERIOD_SECONDS) },
  });
}
