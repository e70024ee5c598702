import { and, asc, desc, eq, gte, inArray, lt, or, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { type OrderItemRow, type OrderRow, type OrderStatus, orderItems, orders } from "../db/schema";
import type { FULFILLMENT_STATUSES, Order } from "./orders.schemas";
import { totalsOf } from "./orders.view";

/**
 * An order as D1 shows it: the view its shard wrote with it, or (a row projected before views were)
 * rebuilt from its columns, with no refunds or fulfilments, which did not exist then.
 */
export function toOrder(row: OrderRow, items: OrderItemRow[]): Order {
  if (row.view) return row.view as Order;
  const currency = row.currency;
  return {
    id: row.id,
    status: row.status,
    ...(row.failureReason ? { failureReason: row.failureReason } : {}),
    items: items.map((item) => ({
      sku: item.sku,
      quantity: item.quantity,
      unitPrice: { amount: item.unitAmount, currency: item.currency },
      title: item.title,
    })),
    total: { amount: row.totalAmount, currency: row.currency },
    customer: row.name ? { email: row.email, name: row.name } : { email: row.email },
    ...(row.shippingAddress ? { shippingAddress: row.shippingAddress as Order["shippingAddress"] } : {}),
    totals: totalsOf(
      items.map((item) => ({ quantity: item.quantity, unitPrice: { amount: item.unitAmount } })),
      { amount: row.totalAmount, currency },
    ),
    refunds: [],
    fulfillmentStatus: row.fulfillmentStatus,
    fulfillments: [],
    payment: {
      status: row.paymentStatus,
      attempts: row.paymentAttempts,
      ...(row.refundedAmount > 0 ? { refunded: { amount: row.refundedAmount, currency: row.currency } } : {}),
      ...(row.dispute ? { dispute: row.dispute } : {}),
    },
    holdExpiresAt: row.holdExpiresAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function findOrder(db: Database, id: string): Promise<OrderRow | null> {
  const [row] = await db.select().from(orders).where(eq(orders.id, id));
  return row ?? null;
}

export async function itemsOf(db: Database, ids: string[]): Promise<Map<string, OrderItemRow[]>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select()
    .from(orderItems)
    .where(inArray(orderItems.orderId, ids))
    .orderBy(asc(orderItems.sku));
  return Map.groupBy(rows, (row) => row.orderId);
}

export type OrderFilter = {
  status?: OrderStatus;
  fulfillment?: (typeof FULFILLMENT_STATUSES)[number];
  email?: string;
  sku?: string;
  /** An order id, or an email. */
  q?: string;
  since?: string;
  until?: string;
};

/** The D1 conditions for a filter: each an indexed column (or the order_items SKU index). */
function where(filter: OrderFilter) {
  const q = filter.q?.trim();
  return [
    filter.status ? eq(orders.status, filter.status) : undefined,
    filter.fulfillment ? eq(orders.fulfillmentStatus, filter.fulfillment) : undefined,
    filter.email ? eq(orders.email, filter.email.trim().toLowerCase()) : undefined,
    filter.sku
      ? inArray(
          orders.id,
          sql`(SELECT ${orderItems.orderId} FROM ${orderItems} WHERE ${orderItems.sku} = ${filter.sku})`,
        )
      : undefined,
    q ? or(eq(orders.id, q), eq(orders.email, q.toLowerCase())) : undefined,
    filter.since ? gte(orders.createdAt, filter.since) : undefined,
    filter.until ? lt(orders.createdAt, filter.until) : undefined,
  ];
}

export async function listOrders(db: Database, options: OrderFilter & { limit: number; beforeId?: string }) {
  const rows = await db
    .select()
    .from(orders)
    .where(and(...where(options), options.beforeId ? lt(orders.id, options.beforeId) : undefined))
    .orderBy(desc(orders.id))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  const items = await itemsOf(
    db,
    page.map((row) => row.id),
  );
  return {
    orders: page.map((row) => toOrder(row, items.get(row.id) ?? [])),
    lastId: page.at(-1)?.id ?? null,
    hasMore: rows.length > options.limit,
  };
}

/** Counts for the ops page from the D1 projection: orders by status, and payments past their retries. */
export async function orderSummary(db: Database, maxAttempts: number) {
  const byStatus = await db
    .select({ status: orders.status, count: sql<number>`COUNT(*)` })
    .from(orders)
    .groupBy(orders.status);
  const [dead] = await db
    .select({ count: sql<number>`COUNT(*)` })
    .from(orders)
    .where(sql`${orders.status} = 'pending_payment' AND ${orders.paymentAttempts} >= ${maxAttempts}`);
  const [payments] = await db
    .select({
      awaitingBuyer: sql<number>`(SELECT COUNT(*) FROM orders WHERE payment_status = 'requires_action')`,
      refunded: sql<number>`(SELECT COUNT(*) FROM orders WHERE payment_status = 'refunded')`,
      disputed: sql<number>`(SELECT COUNT(*) FROM orders WHERE dispute IS NOT NULL)`,
    })
    .from(sql`(SELECT 1)`);
  const counts = Object.fromEntries(byStatus.map((row) => [row.status, row.count]));
  return {
    byStatus: {
      pending_payment: counts.pending_payment ?? 0,
      paid: counts.paid ?? 0,
      payment_failed: counts.payment_failed ?? 0,
      cancelled: counts.cancelled ?? 0,
    },
    paymentsPending: counts.pending_payment ?? 0,
    deadLettered: dead?.count ?? 0,
    awaitingBuyer: payments?.awaitingBuyer ?? 0,
    refunded: payments?.refunded ?? 0,
    disputed: payments?.disputed ?? 0,
  };
}

/**
 * A page of orders for the warehouse export, oldest first by id after `afterId`, each with its lines:
 * the export reads page after page, never the whole result at once.
 */
export async function exportPage(
  db: Database,
  filter: OrderFilter,
  afterId: string | null,
  limit: number,
): Promise<{ order: Order; row: OrderRow }[]> {
  const rows = await db
    .select()
    .from(orders)
    .where(and(...where(filter), afterId ? sql`${orders.id} > ${afterId}` : undefined))
    .orderBy(asc(orders.id))
    .limit(limit);
  const items = await itemsOf(
    db,
    rows.map((row) => row.id),
  );
  return rows.map((row) => ({ order: toOrder(row, items.get(row.id) ?? []), row }));
}
