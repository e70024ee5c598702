import { DurableObject } from "cloudflare:workers";
import { gatewayRps, paymentMode } from "../shared/config";

/**
 * How many of `wanted` calls to the gateway may go out now, across every consumer and shard, and
 * when the next turn comes. Everything that calls the gateway asks: charges, lookups, withdrawals,
 * refunds. Without a limit, all may; with the pacer unreachable, none (a second later, again).
 */
export async function gatewayTurns(env: Env, wanted: number): Promise<{ granted: number; nextInMs: number }> {
  const rps = gatewayRps(env);
  if (rps === 0 || wanted === 0) return { granted: wanted, nextInMs: 0 };
  return env.PACER.getByName(paymentMode(env).provider)
    .take(wanted, rps)
    .catch(() => ({ granted: 0, nextInMs: 1000 }));
}

/**
 * Keeps the calls every consumer makes to one payment gateway under its rate (Stripe answers 429
 * beyond about 25 requests/s per endpoint by default): a token bucket holding one second's worth,
 * refilled continuously. One object per gateway, asked once per consumer batch. Kept in memory: an
 * object that restarts starts full, which costs at most one extra second's worth.
 */
export class GatewayPacer extends DurableObject<Env> {
  #tokens = 0;
  #rps = 0;
  #at = 0;

  /** Grants up to `requested` calls now at `rps` per second; says when the next one will be free. */
  take(requested: number, rps: number): { granted: number; nextInMs: number } {
    const wanted = Math.max(0, Math.min(1000, Math.trunc(requested)));
    const rate = Math.max(0.1, Math.min(10_000, rps));
    const now = Date.now();
    if (rate !== this.#rps) {
      // A changed rate starts from a full second of it.
      this.#rps = rate;
      this.#tokens = rate;
      this.#at = now;
    }
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#at) / 1000) * rate);
    this.#at = now;
    const granted = Math.min(wanted, Math.floor(this.#tokens));
    this.#tokens -= granted;
    const nextInMs = Math.ceil(((1 - (this.#tokens % 1)) / rate) * 1000);
    return { granted, nextInMs };
  }
}
