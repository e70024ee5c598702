import type { Money } from "../shared/money";
import { fulfillmentStatus } from "./lifecycle/after-sale";
import type { OrderPricing, OrderRow } from "./lifecycle/order";
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
  const money = (amount: number) => ({ amount, currency });
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
    ...(row.shippingAddress ? { shippingAddress: row.shippingAddress as Order["shippingAddress"] } : {}),
    totals: totalsOf(row.items, row.total, row.pricing),
    ...(row.pricing?.shippingMethod ? { shippingMethod: row.pricing.shippingMethod } : {}),
    ...(row.pricing?.discountCode ? { discountCode: row.pricing.discountCode } : {}),
    refunds: row.refunds.map((refund) => ({
      id: refund.id,
      amount: money(refund.amount),
      ...(refund.lines ? { lines: refund.lines } : {}),
      restock: refund.restock,
      restocked: refund.restocked,
      status: refund.status,
      ...(refund.reason ? { reason: refund.reason } : {}),
      ...(refund.failure ? { failure: refund.failure } : {}),
      cancel: refund.cancel,
      createdAt: refund.createdAt,
    })),
    fulfillmentStatus: fulfillmentStatus(row),
    fulfillments: row.fulfillments.map((fulfillment) => ({
      id: fulfillment.id,
      lines: fulfillment.lines,
      carrier: fulfillment.carrier,
      trackingNumber: fulfillment.trackingNumber,
      ...(fulfillment.trackingUrl ? { trackingUrl: fulfillment.trackingUrl } : {}),
      createdAt: fulfillment.createdAt,
    })),
    ...(row.cancelledAt ? { cancelledAt: row.cancelledAt } : {}),
    payment: {
      status: row.paymentStatus,
      attempts: row.attempts,
      ...(row.refunded > 0 ? { refunded: money(row.refunded) } : {}),
      ...(row.dispute ? { dispute: row.dispute } : {}),
      ...action,
    },
    holdExpiresAt: row.holdExpiresAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * The money of an order broken down, as checkout priced it; an order accepted before pricing is its
 * lines and nothing else.
 */
export function totalsOf(
  items: { quantity: number; unitPrice: { amount: number } }[],
  total: Money,
  pricing?: Pick<OrderPricing, "subtotal" | "discount" | "shipping" | "tax" | "taxMode">,
): Order["totals"] {
  const money = (amount: number) => ({ amount, currency: total.currency });
  if (pricing) {
    return {
      subtotal: money(pricing.subtotal),
      discount: money(pricing.discount),
      shipping: money(pricing.shipping),
      tax: money(pricing.tax),
      total,
      taxIncluded: pricing.taxMode === "inclusive",
    };
  }
  const subtotal = items.reduce((sum, item) => sum + item.quantity * item.unitPrice.amount, 0);
  return { subtotal: money(subtotal), discount: money(0), shipping: money(0), tax: money(0), total };
}
