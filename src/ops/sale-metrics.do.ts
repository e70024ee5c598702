import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { migrate } from "../shared/sql-schema";
import { emptySecond, LATENCY_BOUNDS_MS, type Outcome, percentile, type SecondCounts } from "./sale-metrics";

const KEEP_SECONDS = 3600;
const MIGRATIONS = [
  `CREATE TABLE seconds (
     t INTEGER PRIMARY KEY,
     counts TEXT NOT NULL
   );`,
];

const Second = z.object({
  t: z.number().int().min(0),
  outcomes: z.record(z.string(), z.number().int().min(0)),
  latency: z.array(z.number().int().min(0)).length(LATENCY_BOUNDS_MS.length),
  units: z.record(z.string().max(64), z.number().int().min(0)),
});

export type SalePoint = {
  /** Start of the point, ISO 8601 UTC. */
  at: string;
  /** Answers per second over the point, by outcome. */
  perSecond: Record<Outcome, number>;
  p50Ms: number | null;
  p99Ms: number | null;
};

export type SaleSeries = {
  stepSeconds: number;
  points: SalePoint[];
  /** Units sold (accepted checkouts) per SKU over the whole window, most first. */
  topSkus: { sku: string; units: number }[];
};

function add(into: SecondCounts, from: SecondCounts) {
  for (const [outcome, n] of Object.entries(from.outcomes) as [Outcome, number][]) {
    into.outcomes[outcome] = (into.outcomes[outcome] ?? 0) + n;
  }
  from.latency.forEach((n, i) => {
    into.latency[i] = (into.latency[i] ?? 0) + n;
  });
  for (const [sku, units] of Object.entries(from.units)) into.units[sku] = (into.units[sku] ?? 0) + units;
}

/**
 * The sale's figures, one row a second for the last hour: every isolate adds what it counted (a few
 * calls a second in all, whatever the checkout rate), and the ops page reads a window of it.
 */
export class SaleMetrics extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage.sql, MIGRATIONS));
  }

  #read(t: number): SecondCounts | null {
    const row = this.ctx.storage.sql
      .exec<{ counts: string }>("SELECT counts FROM seconds WHERE t = ?", t)
      .toArray()[0];
    return row ? (JSON.parse(row.counts) as SecondCounts) : null;
  }

  record(seconds: SecondCounts[]): { ok: boolean } {
    const parsed = z.array(Second).max(120).safeParse(seconds);
    if (!parsed.success) return { ok: false };
    const now = Math.floor(Date.now() / 1000);
    this.ctx.storage.transactionSync(() => {
      for (const second of parsed.data as SecondCounts[]) {
        if (second.t < now - KEEP_SECONDS) continue;
        const merged = this.#read(second.t) ?? emptySecond(second.t);
        add(merged, second);
        this.ctx.storage.sql.exec(
          "INSERT INTO seconds (t, counts) VALUES (?, ?) ON CONFLICT (t) DO UPDATE SET counts = excluded.counts",
          second.t,
          JSON.stringify(merged),
        );
      }
      this.ctx.storage.sql.exec("DELETE FROM seconds WHERE t < ?", now - KEEP_SECONDS);
    });
    return { ok: true };
  }

  /** The last `minutes`, in points of `stepSeconds`, oldest first; empty seconds count as zero. */
  series(minutes: number, stepSeconds: number): SaleSeries {
    const now = Math.floor(Date.now() / 1000);
    const from = now - Math.max(1, Math.min(60, minutes)) * 60;
    const step = Math.max(1, Math.min(60, Math.trunc(stepSeconds)));
    const rows = this.ctx.storage.sql
      .exec<{ t: number; counts: string }>("SELECT t, counts FROM seconds WHERE t > ? ORDER BY t", from)
      .toArray();
    const buckets = new Map<number, SecondCounts>();
    const total = emptySecond(0);
    for (const row of rows) {
      const counts = JSON.parse(row.counts) as SecondCounts;
      const start = from + Math.floor((row.t - from) / step) * step;
      const bucket = buckets.get(start) ?? emptySecond(start);
      add(bucket, counts);
      buckets.set(start, bucket);
      add(total, counts);
    }
    const points: SalePoint[] = [];
    for (let start = from; start <= now; start += step) {
      const bucket = buckets.get(start) ?? emptySecond(start);
      const seconds = Math.min(step, now - start + 1);
      points.push({
        at: new Date(start * 1000).toISOString(),
        perSecond: Object.fromEntries(
          Object.entries(bucket.outcomes).map(([outcome, n]) => [
            outcome,
            Math.round((n / seconds) * 100) / 100,
          ]),
        ) as Record<Outcome, number>,
        p50Ms: percentile(bucket.latency, 0.5),
        p99Ms: percentile(bucket.latency, 0.99),
      });
    }
    const topSkus = Object.entries(total.units)
      .map(([sku, units]) => ({ sku, units }))
      .sort((a, b) => b.units - a.units)
      .slice(0, 20);
    return { stepSeconds: step, points, topSkus };
  }
}
