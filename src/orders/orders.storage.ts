import { and, asc, desc, eq, inArray, lt, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import {
  type OrderItemRow,
  type OrderRow,
  type OrderStatus,
  orderItems,
  orders,
  paymentOutbox,
} from "../db/schema";
import type { Order } from "./orders.schemas";

export function toOrder(row: OrderRow, items: OrderItemRow[]): Order {
  return {
    id: row.id,
    status: row.status,
    items: items.map((item) => ({
      sku: item.sku,
      quantity: item.quantity,
      unitPrice: { amount: item.unitAmount, currency: item.currency },
      title: item.title,
    })),
    total: { amount: row.totalAmount, currency: row.currency },
    customer: row.name ? { email: row.email, name: row.name } : { email: row.email },
    payment: { status: row.paymentStatus, attempts: row.paymentAttempts },
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

export async function listOrders(
  db: Database,
  options: { status?: OrderStatus; limit: number; beforeId?: string },
) {
  const rows = await db
    .select()
    .from(orders)
    .where(
      and(
        options.status ? eq(orders.status, options.status) : undefined,
        options.beforeId ? lt(orders.id, options.beforeId) : undefined,
      ),
    )
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

/**
 * Moves an order out of `pending_payment`, once: the condition makes a duplicate or a racing
 * transition change nothing. Answers whether this call made the move.
 */
export async function transition(
  db: Database,
  id: string,
  to: Exclude<OrderStatus, "pending_payment">,
  payment: Partial<Pick<OrderRow, "paymentStatus" | "chargeId">>,
): Promise<boolean> {
  const moved = await db
    .update(orders)
    .set({ status: to, ...payment, updatedAt: new Date().toISOString() })
    .where(and(eq(orders.id, id), eq(orders.status, "pending_payment")))
    .returning({ id: orders.id });
  return moved.length > 0;
}

export async function countAttempt(db: Database, id: string): Promise<number> {
  const [row] = await db
    .update(orders)
    .set({ paymentAttempts: sql`${orders.paymentAttempts} + 1`, updatedAt: new Date().toISOString() })
    .where(eq(orders.id, id))
    .returning({ attempts: orders.paymentAttempts });
  return row?.attempts ?? 0;
}

export async function markStockCommitted(db: Database, id: string) {
  await db.update(orders).set({ stockCommitted: true }).where(eq(orders.id, id));
}

export async function markRefunded(db: Database, id: string) {
  await db
    .update(orders)
    .set({ paymentStatus: "refunded", updatedAt: new Date().toISOString() })
    .where(eq(orders.id, id));
}

export async function markSent(db: Database, orderId: string) {
  await db
    .update(paymentOutbox)
    .set({ sentAt: Date.now(), sendAttempts: sql`${paymentOutbox.sendAttempts} + 1` })
    .where(eq(paymentOutbox.orderId, orderId));
}

export async function unsentPayments(db: Database, olderThan: number, limit: number) {
  return db
    .select({ orderId: paymentOutbox.orderId })
    .from(paymentOutbox)
    .where(and(sql`${paymentOutbox.sentAt} IS NULL`, lt(paymentOutbox.createdAt, olderThan)))
    .orderBy(asc(paymentOutbox.createdAt))
    .limit(limit);
}

export async function ordersToReconcile(db: Database, pendingBefore: string, limit: number) {
  return db
    .select()
    .from(orders)
    .where(
      sql`(${orders.status} = 'pending_payment' AND ${orders.updatedAt} < ${pendingBefore})
        OR (${orders.status} = 'paid' AND ${orders.stockCommitted} = 0)
        OR (${orders.status} IN ('cancelled', 'payment_failed') AND ${orders.paymentStatus} = 'succeeded')`,
    )
    .orderBy(asc(orders.updatedAt))
    .limit(limit);
}

/** Matches `max_retries` of the payments queue: an order attempted more often went to the dead-letter queue. */
const QUEUE_MAX_RETRIES = 8;

/** Counts for the ops page: orders by status, payments in flight, dead-lettered, and unsent. */
export async function orderSummary(db: Database) {
  const byStatus = await db
    .select({ status: orders.status, count: sql<number>`COUNT(*)` })
    .from(orders)
    .groupBy(orders.status);
  const [dead] = await db
    .select({ count: sql<number>`COUNT(*)` })
    .from(orders)
    .where(sql`${orders.paymentAttempts} > ${QUEUE_MAX_RETRIES}`);
  const [unsent] = await db
    .select({ count: sql<number>`COUNT(*)` })
    .from(paymentOutbox)
    .where(sql`${paymentOutbox.sentAt} IS NULL`);
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
    unsentPayments: unsent?.count ?? 0,
  };
}
