import type { LimitLine } from "../../inventory/allowances";
import type { SkuHold } from "../../inventory/inventory.holds";
import type { AttemptOutcome, PaymentReport } from "../protocol";
import { close } from "./changes";
import { type Lifecycle, lifecycleOf, type OrderRow } from "./order";
import { isOpenPayment, stateOf } from "./states";
import { ATTEMPT_LEASE_MS, type DecideContext, PROCESSING_RECHECK_MS, paymentRetryMs } from "./timing";

/**
 * Applies what an attempt found. A charge is a fact whichever attempt reports it; anything else counts
 * only from the attempt that holds the lease. A "no charge" answer closes the order only when nothing
 * before it was left unknown, or the gateway was asked first; and it clears the doubt about earlier
 * attempts only when the gateway withdrew the payment, so no charge can still land.
 */
export function afterReport(
  order: OrderRow,
  report: PaymentReport,
  ctx: DecideContext,
): { next: Lifecycle; pin: SkuHold[] } {
  const before = lifecycleOf(order);
  const { outcome } = report;
  const current = report.attempt === before.attempts && before.leaseUntil !== null;
  const decided =
    outcome.kind === "charged"
      ? charged(before, report, current, outcome)
      : !current || before.status !== "pending_payment"
        ? lateReport(before, outcome, current, ctx)
        : currentReport(before, report, outcome, ctx);
  const { next, pin } = withReportedHolds(decided, report.cardHolds ?? []);
  return { next: lookBeforeHoldsRunOut(next, ctx), pin };
}

/**
 * An open payment (the buyer acts, or it processes) may complete at any moment, so its order's holds
 * must not run out: while they are not all pinned (one a report added could not be pinned), the next
 * look at the payment, which pins them, comes before the first of them could expire.
 */
function lookBeforeHoldsRunOut(order: Lifecycle, ctx: DecideContext): Lifecycle {
  const state = stateOf(order);
  if (order.stock === "pinned" || (state.name !== "awaiting_buyer" && state.name !== "processing"))
    return order;
  const ends = order.holds.map((hold) => Date.parse(hold.expiresAt)).filter((end) => end > ctx.now);
  if (ends.length === 0 || order.dueAt === null) return order;
  const halfway = ctx.now + Math.max(1000, Math.floor((Math.min(...ends) - ctx.now) / 2));
  return halfway < order.dueAt ? { ...order, dueAt: halfway, dueAttempts: 0 } : order;
}

/**
 * The stock as a report leaves it: "pinned" means every hold of the order is pinned, so an attempt
 * that pinned every hold its task named makes it so only if the order has no hold the task did not name.
 */
const pinnedBy = (order: Lifecycle, report: PaymentReport) =>
  report.pinned && order.stock === "held" && report.taskHolds === order.holds.length ? "pinned" : order.stock;

/** Asking how an open payment stands is not an attempt to charge: it is not counted as one. */
const countedAttempts = (order: Lifecycle, current: boolean) =>
  current && isOpenPayment(order) ? order.attempts - 1 : order.attempts;

const intentOf = (order: Lifecycle, outcome: AttemptOutcome) =>
  ("intentId" in outcome && outcome.intentId) || order.intentId;

function charged(
  order: Lifecycle,
  report: PaymentReport,
  current: boolean,
  outcome: Extract<AttemptOutcome, { kind: "charged" }>,
): Lifecycle {
  if (order.paymentStatus === "succeeded" || order.paymentStatus === "refunded") {
    // The same charge told again changes nothing; a different one is a second charge of one order,
    // which the invariants refuse to write (and log) rather than let pass unseen.
    return { ...order, chargeId: outcome.chargeId };
  }
  return {
    ...order,
    stock: pinnedBy(order, report),
    attempts: countedAttempts(order, current),
    chargeId: outcome.chargeId,
    intentId: outcome.intentId ?? order.intentId,
    paymentStatus: "succeeded",
    action: null,
    chargeInDoubt: false,
    // Whatever else is out, the charge decides the order: no other attempt's answer matters now.
    leaseUntil: null,
    unknownAttempts: 0,
  };
}

/**
 * A report from an attempt that lost its lease, or about an order decided meanwhile. An open payment
 * it reports on a closed order may yet charge, so it is looked for (withdrawn, or found and refunded).
 * The attempt a closed order was waiting on has come back: the order need not wait for its lease.
 */
function lateReport(
  order: Lifecycle,
  outcome: AttemptOutcome,
  current: boolean,
  ctx: DecideContext,
): Lifecycle {
  const closed = order.status === "payment_failed" || order.status === "cancelled";
  if (!closed) return order;
  const open = outcome.kind === "requires_action" || outcome.kind === "processing";
  const unaccounted = order.paymentStatus !== "succeeded" && order.paymentStatus !== "refunded";
  const back = current ? { leaseUntil: null } : {};
  if (open && unaccounted) {
    return {
      ...order,
      ...back,
      intentId: intentOf(order, outcome),
      chargeInDoubt: true,
      dueAt: ctx.now,
      dueAttempts: 0,
    };
  }
  return { ...order, ...back };
}

function currentReport(
  order: Lifecycle,
  report: PaymentReport,
  outcome: AttemptOutcome,
  ctx: DecideContext,
): Lifecycle {
  const stock = pinnedBy(order, report);
  const retryAt = ctx.now + paymentRetryMs(ctx, report.attempt);
  const answered = { ...order, stock, leaseUntil: null };
  switch (outcome.kind) {
    case "charged":
      throw new Error("a charge is decided by charged()");
    case "not_attempted":
      // Not counted as an attempt; due again after the backoff, or when the gateway's rate says.
      return {
        ...answered,
        attempts: order.attempts - 1,
        dueAt: outcome.retryAfterMs === undefined ? retryAt : ctx.now + outcome.retryAfterMs,
        dueAttempts: 0,
      };
    case "limit_exceeded": {
      // A refusal before any charge by this attempt; a payment an earlier one may have left (found by
      // its lookup, or still on its way) is withdrawn or refunded once the order is closed.
      const reason = cardLimitReason(outcome.limit, outcome.remaining, outcome.inDoubt);
      const doubt = outcome.inDoubt || order.unknownAttempts > 0;
      return {
        ...close(answered, "payment_failed", reason, doubt, ctx),
        paymentStatus: "failed",
        unknownAttempts: 0,
      };
    }
    case "requires_action":
    case "processing": {
      // The gateway's answer covers every earlier attempt under this payment: nothing is unknown now.
      const waiting = outcome.kind === "requires_action";
      const actionUntil = waiting
        ? (order.actionUntil ?? ctx.now + ctx.settings.actionMs)
        : order.actionUntil;
      // An event (or the buyer) asked for a look while this attempt was out: look again at once.
      const asked =
        order.eventAt !== null && order.eventAt >= (order.leaseUntil ?? ctx.now) - ATTEMPT_LEASE_MS;
      const next = waiting ? (actionUntil ?? ctx.now) : ctx.now + PROCESSING_RECHECK_MS;
      return {
        ...answered,
        attempts: countedAttempts(order, true),
        intentId: intentOf(order, outcome),
        paymentStatus: outcome.kind,
        action: waiting ? outcome.action : null,
        actionUntil,
        unknownAttempts: 0,
        dueAt: asked ? ctx.now : next,
        dueAttempts: 0,
      };
    }
    case "unknown":
      return unknownYet(answered, outcome, retryAt);
    case "declined":
    case "no_charge":
    case "lapsed": {
      const lookedUp = outcome.kind === "no_charge" || outcome.lookedUp;
      // After an unknown outcome, no "no charge" decides anything before the gateway was asked.
      if (order.unknownAttempts > 0 && !lookedUp) return unknownYet(answered, outcome, retryAt);
      const withdrawn =
        outcome.kind === "no_charge" || (outcome.kind === "declined" && outcome.withdrawn === true);
      const reason =
        outcome.kind === "declined"
          ? `Payment declined: ${outcome.reason}`
          : outcome.kind === "lapsed"
            ? "The stock hold lapsed before payment; nothing was charged"
            : `No charge was made after ${order.attempts} attempts`;
      const base = {
        ...answered,
        intentId: intentOf(order, outcome),
        attempts: countedAttempts(order, true),
      };
      // An earlier attempt's charge may still be on its way unless the gateway withdrew the payment.
      const doubt = order.unknownAttempts > 0 && !withdrawn;
      return {
        ...close(base, "payment_failed", reason, doubt, ctx),
        paymentStatus: "failed",
        unknownAttempts: 0,
      };
    }
  }
}

function unknownYet(order: Lifecycle, outcome: AttemptOutcome, retryAt: number): Lifecycle {
  return {
    ...order,
    intentId: intentOf(order, outcome),
    unknownAttempts: order.unknownAttempts + 1,
    dueAt: retryAt,
    dueAttempts: 0,
  };
}

/**
 * The card allowance an attempt held is the order's from now on, whatever the attempt's outcome and
 * whether it still held the lease: it is committed or given back with the other holds. It is not pinned
 * yet, so the order's stock is no longer all pinned: pinning it (`pin`) makes it so again, and a commit
 * pins every hold first. One that arrives after the order's stock was settled is settled the same way,
 * on its own.
 */
function withReportedHolds(order: Lifecycle, reported: SkuHold[]): { next: Lifecycle; pin: SkuHold[] } {
  const known = new Set([...order.holds, ...order.lateHolds].map((hold) => hold.sku));
  const fresh = reported.filter((hold) => !known.has(hold.sku));
  if (fresh.length === 0) return { next: order, pin: [] };
  if (order.stock === "committed" || order.stock === "released") {
    return { next: { ...order, lateHolds: [...order.lateHolds, ...fresh] }, pin: [] };
  }
  const next: Lifecycle = { ...order, holds: [...order.holds, ...fresh], stock: "held" };
  return { next, pin: order.stock === "pinned" ? fresh : [] };
}

/**
 * The gateway spoke while a report's stock step ran: a decision that closed the order without a charge
 * then has its payment looked for once more, so news of a charge is never lost behind it.
 */
export function newsWhileSettling(order: Lifecycle, ctx: DecideContext): Lifecycle {
  const closed = order.status === "payment_failed" || order.status === "cancelled";
  const charged = order.paymentStatus === "succeeded" || order.paymentStatus === "refunded";
  if (!closed || charged || order.chargeInDoubt) return order;
  return { ...order, chargeInDoubt: true, dueAt: ctx.now, dueAttempts: 0 };
}

/**
 * Why an order failed when the card paying for it was past a limit per customer: the stable code
 * first, then the limit, as the buyer reads it on the order.
 */
function cardLimitReason(limit: LimitLine["limit"], remaining: number, inDoubt: boolean): string {
  const money = inDoubt
    ? "a payment an earlier attempt left open is withdrawn, or refunded"
    : "nothing was charged";
  if (limit.scope === "code") {
    return `discount_exhausted: the code ${limit.code} can be used ${limit.max} times per customer, and the card paying has used it up (uses its other unpaid orders hold come back if they fail); ${money}`;
  }
  const name = limit.scope === "sku" ? `SKU ${limit.sku}` : `product ${limit.productId}`;
  return `purchase_limit_exceeded: at most ${limit.max} of ${name} per customer, and the card paying may buy ${remaining} more now (units its other unpaid orders hold come back if they fail); ${money}`;
}
