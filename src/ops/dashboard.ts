import { and, desc, eq, isNotNull } from "drizzle-orm";
import { priceSkus } from "../catalog/catalog.service";
import { database } from "../db/client";
import { products } from "../db/schema";
import type { Scope } from "../http/scope";
import { readCounts } from "../inventory/inventory.service";
import { flushSaleCounters } from "../metrics/sale-metrics";
import type { SaleSeries } from "../metrics/sale-metrics.do";
import { intakeCounts, listOrders, orderSummary } from "../orders/protocol";
import { settings } from "../shared/config";

/** How many SKUs the page watches at most, and how many the busiest-first default picks. */
export const MAX_WATCHED = 20;
/** Drops with a waiting room the page shows, newest first. */
const MAX_DROPS = 5;
const DEFAULT_WATCHED = 8;

/**
 * Everything the ops page shows, in one answer: payments by status and the queue's backlog (from D1
 * and the order shards), the latest orders, the sale's figures over the last minutes, and stock of
 * the watched SKUs (those asked for, else the ones selling most). Each part is read on its own; a
 * part whose store does not answer is named in `unavailable` and the rest is still shown.
 */
export async function dashboard(scope: Scope, { skus, minutes }: { skus: string[]; minutes: number }) {
  const env = scope.env;
  // What this isolate counted so far is part of the picture.
  await flushSaleCounters(env, { force: true });
  const db = database(env.DB);
  const step = minutes <= 5 ? 5 : minutes <= 15 ? 10 : 30;
  const [summary, intake, recent, sale] = await Promise.allSettled([
    orderSummary(db, settings(env).paymentMaxAttempts),
    intakeCounts(env),
    listOrders(db, { limit: 10 }),
    env.METRICS.getByName("sale").series(minutes, step, skus) as Promise<SaleSeries>,
  ]);
  const [watched, drops] = await Promise.allSettled([
    watchedStock(scope, skus, sale.status === "fulfilled" ? sale.value : null),
    dropQueues(env),
  ]);
  const parts = { payments: summary, intake, orders: recent, sale, stock: watched, drops };
  const unavailable = (Object.keys(parts) as (keyof typeof parts)[]).filter(
    (part) => parts[part].status === "rejected",
  );
  const intakeValue = intake.status === "fulfilled" ? intake.value : null;
  return {
    now: new Date().toISOString(),
    minutes,
    payments:
      summary.status === "fulfilled"
        ? { ...summary.value, unsentPayments: intakeValue?.notStarted ?? null }
        : null,
    intake: intakeValue
      ? {
          owed: intakeValue.owed,
          overdue: intakeValue.overdue,
          unprojected: intakeValue.unprojected,
          claimsInFlight: intakeValue.claimsInFlight,
          releasesOwed: intakeValue.releasesOwed,
        }
      : null,
    recentOrders: recent.status === "fulfilled" ? recent.value.orders : null,
    sale: sale.status === "fulfilled" ? sale.value : null,
    stock: watched.status === "fulfilled" ? watched.value : null,
    drops: drops.status === "fulfilled" ? drops.value : null,
    unavailable,
  };
}

/**
 * The waiting rooms of the newest drops that have one: who joined, is waiting, was let in, what sold
 * and what is left, from each room's published state (one call per drop).
 */
async function dropQueues(env: Env) {
  const rows = await database(env.DB)
    .select({ id: products.id, title: products.title, saleStartsAt: products.saleStartsAt })
    .from(products)
    .where(and(isNotNull(products.waitingRoom), eq(products.status, "active")))
    .orderBy(desc(products.id))
    .limit(MAX_DROPS);
  return Promise.all(
    rows.map(async (row) => {
      const state = await env.ROOMS.getByName(row.id).state();
      return {
        productId: row.id,
        title: row.title,
        saleStartsAt: row.saleStartsAt,
        joined: state.joined,
        waiting: state.joined - state.admitted,
        admitted: state.admitted,
        sold: state.unitsSold,
        unitsLeft: state.unitsLeft,
        soldOut: state.soldOut,
      };
    }),
  );
}

/** Stock of the SKUs asked for (those the catalog knows), else of the ones that sold most. */
async function watchedStock(scope: Scope, asked: string[], sale: SaleSeries | null) {
  const top = sale?.topSkus ?? [];
  const sold = new Map([
    ...top.map(({ sku, units }) => [sku, units] as const),
    ...Object.entries(sale?.unitsOf ?? {}),
  ]);
  const candidates =
    asked.length > 0 ? asked.slice(0, MAX_WATCHED) : top.slice(0, DEFAULT_WATCHED).map((t) => t.sku);
  // Only SKUs the catalog knows reach an inventory object.
  const known = candidates.length > 0 ? await priceSkus(scope, candidates) : new Map();
  return Promise.all(
    candidates.map(async (sku) => {
      if (!known.has(sku)) return { sku, known: false as const };
      const counts = await readCounts(scope.env, sku);
      return {
        sku,
        known: true as const,
        ...counts,
        stocked: counts.onHand + counts.committed,
        soldInWindow: sold.get(sku) ?? 0,
      };
    }),
  );
}
