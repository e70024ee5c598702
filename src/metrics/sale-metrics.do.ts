import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { migrate } from "../shared/sql-schema";
import {
  addSecond,
  emptySecond,
  LATENCY_BOUNDS_MS,
  type Outcome,
  percentile,
  type SecondCounts,
} from "./sale-metrics";

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

type SalePoint = {
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
  /** Units sold over the window by each SKU asked about. */
  unitsOf: Record<string, number>;
};

/** Isolates hand their counts on every 2 s: the last seconds are not complete yet, so not shown. */
const SETTLING_SECONDS = 3;

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
        addSecond(merged, second);
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

  /**
   * The last `minutes`, in points of `stepSeconds` that start on multiples of it (so a point keeps its
   * place from one refresh to the next), oldest first, up to the last complete point; empty seconds
   * count as zero.
   */
  series(minutes: number, stepSeconds: number, skus: string[] = []): SaleSeries {
    const step = Math.max(1, Math.min(60, Math.trunc(stepSeconds)));
    const end = Math.floor((Math.floor(Date.now() / 1000) - SETTLING_SECONDS) / step) * step;
    const from = end - Math.max(1, Math.min(60, minutes)) * 60;
    const rows = this.ctx.storage.sql
      .exec<{ t: number; counts: string }>(
        "SELECT t, counts FROM seconds WHERE t >= ? AND t < ? ORDER BY t",
        from,
        end,
      )
      .toArray();
    const buckets = new Map<number, SecondCounts>();
    const total = emptySecond(0);
    for (const row of rows) {
      const counts = JSON.parse(row.counts) as SecondCounts;
      const start = Math.floor(row.t / step) * step;
      const bucket = buckets.get(start) ?? emptySecond(start);
      addSecond(bucket, counts);
      buckets.set(start, bucket);
      addSecond(total, counts);
    }
    const points: SalePoint[] = [];
    for (let start = from; start < end; start += step) {
      const bucket = buckets.get(start) ?? emptySecond(start);
      points.push({
        at: new Date(start * 1000).toISOString(),
        perSecond: Object.fromEntries(
          Object.entries(bucket.outcomes).map(([outcome, n]) => [
            outcome,
            Math.round((n / step) * 100) / 100,
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
    const unitsOf = Object.fromEntries(skus.map((sku) => [sku, total.units[sku] ?? 0]));
    return { stepSeconds: step, points, topSkus, unitsOf };
  }
}
