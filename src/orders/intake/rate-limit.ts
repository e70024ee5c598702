import type { Problem } from "../../shared/errors";

const PERIOD_SECONDS = 10;
/** Clients this isolate remembers as refused; the oldest make room (a flood of addresses costs little). */
const MAX_REMEMBERED = 10_000;

/**
 * Clients the limiter refused, with until when this isolate refuses them itself: the rest of a period
 * from the refusal. A client over its budget then costs one limiter call per period per isolate, not
 * one per request. Only ever stricter than the limiter (a refused client stays refused here at most a
 * period longer than it might there), never looser: every client under its budget still asks it.
 */
const refusedUntil = new Map<string, number>();

function remembersRefused(client: string, now: number): boolean {
  const until = refusedUntil.get(client);
  if (until === undefined) return false;
  if (until > now) return true;
  refusedUntil.delete(client);
  return false;
}

function rememberRefused(client: string, now: number) {
  refusedUntil.delete(client);
  while (refusedUntil.size >= MAX_REMEMBERED) {
    const oldest = refusedUntil.keys().next();
    if (oldest.done) break;
    refusedUntil.delete(oldest.value);
  }
  refusedUntil.set(client, now + PERIOD_SECONDS * 1000);
}

const refusal = (): Problem => ({
  code: "rate_limited",
  detail: "Too many checkouts from this client; retry after the period",
  headers: { "Retry-After": String(PERIOD_SECONDS) },
});

/**
 * Spends one unit of the client's checkout budget (CHECKOUT_LIMITER: 100 per 10 s per location) and
 * answers the refusal when it is spent. Checkout asks just before its first costly step, so answers
 * that cost nothing (validation errors, the sold-out fast path) never wait on the limiter. A client the
 * limiter refused in this isolate is refused here, without asking, for the rest of that period.
 */
export async function checkoutRefusedByLimiter(env: Env, client: string): Promise<Problem | null> {
  if (remembersRefused(client, Date.now())) return refusal();
  const { success } = await env.CHECKOUT_LIMITER.limit({ key: client });
  if (success) return null;
  rememberRefused(client, Date.now());
  return refusal();
}
