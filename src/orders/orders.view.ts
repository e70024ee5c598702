import type { OrderRow } from "./lifecycle/order";
import type { Order } from "./orders.schemas";

/** An order as the API shows it, from the shard's record. */
export type OrderView = Order;

/**
 * The buyer also sees what an open payment asks of them (a client secret or a challenge's URL): it
 * completes the payment, so it goes only to the holder of the order's token, never to listings,
 * projections or the shop's webhooks.
 */
export function toOrderView(row: OrderRow, audience: "buyer" | "shop" = "shop"): OrderView {
  const currency = row.total.currency;
  const action =
    audience === "buyer" && row.paymentStatus === "requires_action" && row.action
      ? {
          nextAction: row.action,
          ...(row.actionUntil ? { actionExpiresAt: new Date(row.actionUntil).toISOString() } : {}),
        }
      : {};
  return {
    id: row.id,
    status: row.status,
    ...(row.failureReason ? { failureReason: row.failureReason } : {}),
    items: row.items.map(({ sku, quantity, unitPrice, title }) => ({ sku, quantity, unitPrice, title })),
    total: row.total,
    customer: row.customer.name
      ? { email: row.customer.email, name: row.customer.name }
      : { email: row.customer.email },
    payment: {
      status: row.paymentStatus,
      attempts: row.attempts,
      ...(row.refunded > 0 ? { refunded: { amount: row.refunded, currency } } : {}),
      ...(row.dispute ? { dispute: row.dispute } : {}),
      ...action,
    },
    holdExpiresAt: row.holdExpiresAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
