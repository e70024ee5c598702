import type { Problem } from "../../shared/errors";
import { refusedByLimiter } from "../../shared/limiter";

const PERIOD_SECONDS = 10;

/**
 * Spends one unit of the client's checkout budget (CHECKOUT_LIMITER: 100 per 10 s per location) and
 * answers the refusal when it is spent. Checkout asks just before its first costly step, so answers
 * that cost nothing (validation errors, the sold-out fast path) never wait on the limiter. A client the
 * limiter refused in this isolate is refused here, without asking, for the rest of that period.
 */
export async function checkoutRefusedByLimiter(env: Env, client: string): Promise<Problem | null> {
  if (!(await refusedByLimiter("checkout", env.CHECKOUT_LIMITER, client, PERIOD_SECONDS))) return null;
  return {
    code: "rate_limited",
    detail: "Too many checkouts from this client; retry after the period",
    headers: { "Retry-After": String(PERIOD_SECONDS) },
  };
}
