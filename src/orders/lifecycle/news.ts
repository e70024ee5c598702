import type { GatewayEventDetail } from "../../payments/gateway";
import { lookAgain } from "./changes";
import { type Lifecycle, lifecycleOf, type OrderRow } from "./order";
import { isOpenPayment } from "./states";
import { type DecideContext, RECHECK_SPACING_MS } from "./timing";

// What the gateway's events and the buyer's "I am done" change about an order.

/** How far a dispute has gone: a later event of an earlier stage never moves it back. */
const DISPUTE_STAGES: Record<string, number> = {
  warning_needs_response: 0,
  needs_response: 0,
  warning_under_review: 1,
  under_review: 1,
  warning_closed: 2,
  won: 2,
  lost: 2,
  prevented: 2,
};

/**
 * The gateway's word never decides the payment itself: a pending order is looked at again (at once,
 * or when the attempt out reports), and the consumer asks the gateway, so events that arrive late, twice
 * or out of order cannot change the decision. What an event adds is kept so its order does not matter:
 * the refunded total only grows, a dispute only moves towards its end, and a closed order told of a
 * charge has it looked for (and refunded).
 */
export function afterGatewayEvent(
  row: OrderRow,
  kind: string,
  detail: GatewayEventDetail | undefined,
  ctx: DecideContext,
): Lifecycle {
  const order = lifecycleOf(row);
  const next = lookAgain(order, ctx);
  const { amount: total, currency } = row.total;
  const closed = order.status === "payment_failed" || order.status === "cancelled";
  if (detail && "refunded" in detail && detail.refunded.currency === currency) {
    const amount = Math.min(detail.refunded.amount, total);
    if (amount > order.refunded) next.refunded = amount;
    const charged = order.status === "paid" || closed;
    if (charged && order.paymentStatus === "succeeded" && amount >= total) next.paymentStatus = "refunded";
  }
  if (detail && "dispute" in detail && detail.dispute.currency === currency) {
    const { id, status, reason, amount } = detail.dispute;
    const stage = (value: string | undefined) => DISPUTE_STAGES[value ?? ""] ?? 0;
    const known = order.dispute;
    const forward = !known || known.id !== id || stage(status) >= stage(known.status);
    if (forward && (known?.status !== status || known.id !== id)) {
      next.dispute = { id, status, reason, amount: { amount, currency } };
    }
  }
  const chargeNews = kind === "payment_intent.succeeded" || kind === "charge.succeeded";
  const unaccounted = order.paymentStatus !== "succeeded" && order.paymentStatus !== "refunded";
  if (closed && chargeNews && unaccounted && !order.chargeInDoubt) {
    return { ...next, chargeInDoubt: true, dueAt: ctx.now, dueAttempts: 0 };
  }
  return next;
}

/** The buyer's "I am done": an open payment is looked at again now, at most once per spacing. */
export function afterRecheck(order: Lifecycle, ctx: DecideContext): Lifecycle {
  const spaced = order.eventAt === null || ctx.now - order.eventAt >= RECHECK_SPACING_MS;
  return order.status === "pending_payment" && isOpenPayment(order) && spaced ? lookAgain(order, ctx) : order;
}
