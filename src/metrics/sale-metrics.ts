import { logEvent } from "../shared/log";

/**
 * The sale as the ops page draws it: checkout answers per second by outcome, their latency, and the
 * units each SKU sold. Each isolate counts in memory (no I/O per request) and hands what it counted
 * to the `SaleMetrics` object at most every FLUSH_EVERY_MS, riding on a request's `waitUntil`; the
 * object keeps the last hour, one row a second. So a checkout costs nothing extra, and the figures
 * reach the page within a few seconds.
 */
export type Outcome = "accepted" | "replayed" | "refused" | "rateLimited" | "unavailable" | "invalid";

/** Upper bounds (ms) of the latency histogram's buckets; the last catches everything slower. */
export const LATENCY_BOUNDS_MS = [
  1,
  2,
  3,
  5,
  8,
  12,
  20,
  30,
  50,
  80,
  120,
  200,
  300,
  500,
  800,
  1200,
  2000,
  3000,
  5000,
  Number.POSITIVE_INFINITY,
];

export type SecondCounts = {
  /** Epoch second. */
  t: number;
  outcomes: Record<Outcome, number>;
  /** Answers per latency bucket (see LATENCY_BOUNDS_MS). */
  latency: number[];
  /** Units of accepted checkouts, by SKU. */
  units: Record<string, number>;
};

const FLUSH_EVERY_MS = 2000;
/** What an isolate keeps unflushed at most (a minute of seconds), should the object not answer. */
const MAX_PENDING_SECONDS = 60;

export function emptySecond(t: number): SecondCounts {
  return {
    t,
    outcomes: { accepted: 0, replayed: 0, refused: 0, rateLimited: 0, unavailable: 0, invalid: 0 },
    latency: LATENCY_BOUNDS_MS.map(() => 0),
    units: {},
  };
}

/** What a checkout answer means for the sale, from its status alone. */
function outcomeOf(status: number, replayed: boolean): Outcome {
  if (status === 202 || status === 200) return replayed ? "replayed" : "accepted";
  if (status === 409) return "refused";
  if (status === 429) return "rateLimited";
  if (status >= 500) return "unavailable";
  return "invalid";
}

/** Adds one second's counts into another of the same second. */
export function addSecond(into: SecondCounts, from: SecondCounts) {
  for (const [outcome, n] of Object.entries(from.outcomes) as [Outcome, number][]) {
    into.outcomes[outcome] = (into.outcomes[outcome] ?? 0) + n;
  }
  from.latency.forEach((n, i) => {
    into.latency[i] = (into.latency[i] ?? 0) + n;
  });
  for (const [sku, units] of Object.entries(from.units)) into.units[sku] = (into.units[sku] ?? 0) + units;
}

class Collector {
  #pending = new Map<number, SecondCounts>();
  #flushedAt = 0;

  #second(now: number): SecondCounts {
    const t = Math.floor(now / 1000);
    let second = this.#pending.get(t);
    if (!second) {
      second = emptySecond(t);
      this.#pending.set(t, second);
      if (this.#pending.size > MAX_PENDING_SECONDS) {
        const oldest = this.#pending.keys().next().value;
        if (oldest !== undefined) this.#pending.delete(oldest);
      }
    }
    return second;
  }

  answer(outcome: Outcome, ms: number, now = Date.now()) {
    const second = this.#second(now);
    second.outcomes[outcome]++;
    const bucket = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
    second.latency[bucket] = (second.latency[bucket] ?? 0) + 1;
  }

  units(lines: { sku: string; quantity: number }[], now = Date.now()) {
    const second = this.#second(now);
    for (const { sku, quantity } of lines) second.units[sku] = (second.units[sku] ?? 0) + quantity;
  }

  /** The counts to hand on now, if it is time (they are taken out; put back if the hand-over fails). */
  take(now = Date.now(), force = false): SecondCounts[] | null {
    if (this.#pending.size === 0 || (!force && now - this.#flushedAt < FLUSH_EVERY_MS)) return null;
    this.#flushedAt = now;
    const taken = [...this.#pending.values()];
    this.#pending.clear();
    return taken;
  }

  /** Puts counts back after a failed hand-over, adding them to what was counted meanwhile. */
  putBack(seconds: SecondCounts[]) {
    for (const second of seconds) {
      const current = this.#pending.get(second.t);
      if (current) addSecond(current, second);
      else this.#pending.set(second.t, second);
    }
  }

  /** Whether anything counted here waits to be handed on (cheap: for every request). */
  get pending(): boolean {
    return this.#pending.size > 0;
  }
}

/** This isolate's counts. */
export const saleCounters = new Collector();

/** Hands this isolate's counts to the metrics object when it is time (or now); never fails the request. */
export async function flushSaleCounters(env: Env, { force = false } = {}) {
  const seconds = saleCounters.take(Date.now(), force);
  if (!seconds) return;
  try {
    const { ok } = await env.METRICS.getByName("sale").record(seconds);
    if (!ok)
      logEvent("error", "sale metrics refused a hand-over as malformed; dropped", {
        seconds: seconds.length,
      });
  } catch (error) {
    saleCounters.putBack(seconds);
    logEvent("warn", "sale metrics could not be recorded; kept for the next try", { error: String(error) });
  }
}

/**
 * Hands this isolate's counts on when due, from any request it serves (not only checkouts), so the
 * end of a burst follows with the next product read or stock poll.
 */
export function handOn(env: Env, ctx: ExecutionContext) {
  if (saleCounters.pending) ctx.waitUntil(flushSaleCounters(env));
}

/**
 * The p-th percentile (0..1) of a latency histogram, as its bucket's upper bound in ms (null if
 * empty); beyond the last bound it answers that bound, read as "more than".
 */
export function percentile(latency: number[], p: number): number | null {
  const total = latency.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (const [index, count] of latency.entries()) {
    seen += count;
    if (seen >= p * total) {
      const bound = LATENCY_BOUNDS_MS[index] ?? Number.POSITIVE_INFINITY;
      return Number.isFinite(bound) ? bound : (LATENCY_BOUNDS_MS.at(-2) ?? 0);
    }
  }
  return null;
}

/** Counts a checkout's answer (its outcome and latency) and hands the counts on when it is time. */
export async function countCheckout(
  answer: Response | Promise<Response>,
  env: Env,
  ctx: ExecutionContext,
  started: number,
): Promise<Response> {
  const response = await answer;
  saleCounters.answer(
    outcomeOf(response.status, response.headers.has("Idempotent-Replayed")),
    performance.now() - started,
  );
  handOn(env, ctx);
  return response;
}
