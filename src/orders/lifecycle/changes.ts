import type { Lifecycle, OrderRow } from "./order";
import { dueAtFor, isOpenPayment } from "./states";
import { backoffMs, type DecideContext } from "./timing";

// The changes several events make alike, each answering an order's whole next lifecycle.

export function backedOff(order: Lifecycle, ctx: DecideContext): Lifecycle {
  return {
    ...order,
    dueAt: ctx.now + backoffMs(order.dueAttempts, ctx.random),
    dueAttempts: order.dueAttempts + 1,
  };
}

/** The due time for what `next` owes: its lease's end, a payment retry set for later, now or never. */
export function reschedule(order: OrderRow, next: Lifecycle, ctx: DecideContext): Lifecycle {
  const dueAt = dueAtFor(
    { ...next, holdExpiresAt: order.holdExpiresAt, pricing: order.pricing, total: order.total },
    ctx.now,
  );
  if (dueAt === next.dueAt) return next;
  // Work due now that was already due keeps its count of failures, so its backoff keeps growing.
  const alreadyDue = dueAt !== null && dueAt <= ctx.now && next.dueAt !== null && next.dueAt <= ctx.now;
  return alreadyDue ? next : { ...next, dueAt, dueAttempts: 0 };
}

/** Closes an unpaid order (failed or cancelled): its stock is owed back, a possible charge looked for. */
export function close(
  order: Lifecycle,
  status: "payment_failed" | "cancelled",
  reason: string,
  chargeInDoubt: boolean,
  ctx: DecideContext,
): Lifecycle {
  return {
    ...order,
    status,
    failureReason: reason,
    paymentStatus:
      order.paymentStatus !== "pending" && !isOpenPayment(order)
        ? order.paymentStatus
        : status === "cancelled"
          ? "not_charged"
          : "failed",
    chargeInDoubt,
    action: null,
    dueAt: ctx.now,
    dueAttempts: 0,
  };
}

/** A pending order is due now, or (with an attempt out) the attempt's report brings it back now. */
export function lookAgain(order: Lifecycle, ctx: DecideContext): Lifecycle {
  const leased = order.leaseUntil !== null && order.leaseUntil > ctx.now;
  return order.status === "pending_payment" && !leased
    ? { ...order, eventAt: ctx.now, dueAt: ctx.now, dueAttempts: 0 }
    : { ...order, eventAt: ctx.now };
}
