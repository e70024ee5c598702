import type { OrderRow } from "./order-shard.store";
import type { Order } from "./orders.schemas";

/** An order as the API shows it, from the shard's record. */
export type OrderView = Order;

export function toOrderView(row: OrderRow): OrderView {
  return {
    id: row.id,
    status: row.status,
    ...(row.failureReason ? { failureReason: row.failureReason } : {}),
    items: row.items.map(({ sku, quantity, unitPrice, title }) => ({ sku, quantity, unitPrice, title })),
    total: row.total,
    customer: row.customer.name
      ? { email: row.customer.email, name: row.customer.name }
      : { email: row.customer.email },
    payment: { status: row.paymentStatus, attempts: row.attempts },
    holdExpiresAt: row.holdExpiresAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
