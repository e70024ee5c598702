import type { Problem } from "../../shared/errors";

const PERIOD_SECONDS = 10;

/**
 * Spends one unit of the client's checkout budget (CHECKOUT_LIMITER: 100 per 10 s per location) and
 * answers the refusal when it is spent. Checkout asks just before its first costly step, so answers
 * that cost nothing (validation errors, the sold-out fast path) never wait on the limiter.
 */
export async function checkoutRefusedByLimiter(env: Env, client: string): Promise<Problem | null> {
  const { success } = await env.CHECKOUT_LIMITER.limit({ key: client });
  if (success) return null;
  return {
    code: "rate_limited",
    detail: "Too many checkouts from this client; retry after the period",
    headers: { "Retry-After": String(PERIOD_SECONDS) },
  };
}
