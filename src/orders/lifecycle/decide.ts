import type { LimitLine } from "../../inventory/allowances";
import type { SkuHold } from "../../inventory/inventory.holds";
import type { ChargeLookup, GatewayEventDetail } from "../../payments/gateway";
import type { AttemptOutcome, PaymentReport, PaymentTask } from "../protocol";
import { type Lifecycle, lifecycleOf, type OrderRow } from "./order";
import { chargeMayExist, dueAtFor, isOpenPayment, owedWork, stateOf } from "./states";
import {
  ATTEMPT_LEASE_MS,
  backoffMs,
  type DecideContext,
  PROCESSING_RECHECK_MS,
  paymentRetryMs,
  RECHECK_SPACING_MS,
  RESEND_AFTER_MS,
} from "./timing";

/**
 * The order lifecycle as one machine: `decide(order, event)` answers the order's whole next lifecycle
 * (and, for `begin`, the payment attempt to hand out), from the order as it is now. It does no I/O and
 * reads no clock: the shard applies a decision synchronously, in the transaction that reads the order,
 * with the invariants checked before it is written (invariants.ts).
 */
export type LifecycleEvent =
  /** The payment queue asks for the order's next attempt. */
  | { type: "begin" }
  /** The consumer reports an attempt. */
  | { type: "report"; report: PaymentReport }
  /** The gateway (or the buyer) spoke while a report's stock step ran. */
  | { type: "news_while_settling" }
  /** A stock step the order owed came to this. */
  | { type: "stock"; step: StockStep }
  /** The buyer cancels. */
  | { type: "cancel" }
  /** The gateway's word that the payment changed (Stripe's webhooks, the simulator's events). */
  | { type: "gateway_event"; kind: string; detail?: GatewayEventDetail }
  /** The buyer says they finished what the payment asked of them. */
  | { type: "recheck" }
  /** The order's due time came: a hold that ran out before any payment began closes it. */
  | { type: "tick" }
  /** The order was handed to the payment queue again (a lost message, a retry come due). */
  | { type: "handed_on" }
  /** The charge on a closed order was refunded. */
  | { type: "refunded" }
  /** The gateway was asked for (and withdrew what it could of) a charge that may exist. */
  | { type: "verified"; found: ChargeLookup }
  /** A step the order owed failed (a store or the gateway could not be reached): back off. */
  | { type: "step_failed" };

/** What a stock step came to. */
export type StockStep =
  /** Every hold of a charged order is committed: its units are sold. */
  | { kind: "sold" }
  /** A hold of a charged order was gone before it could be committed: the charge is refunded. */
  | { kind: "lost"; reason: string }
  /** A closed order's holds are given back. */
  | { kind: "released" }
  /** Holds a report added are pinned: every hold of the order is now. */
  | { kind: "pinned" }
  /** Holds reported after the order's stock was settled are settled the same way. */
  | { kind: "late_settled" };

export type Decision = {
  next: Lifecycle;
  /** For `report`: holds it added that are all that keeps the order's stock from being pinned. */
  pin?: SkuHold[];
  /** For `begin`: the attempt to hand to the consumer, if one is due. */
  task: PaymentTask | null;
  /** For `cancel`: why the order cannot be cancelled (its status, or "being paid"). */
  refusal: string | null;
};

export function decide(order: OrderRow, event: LifecycleEvent, ctx: DecideContext): Decision {
  const current = lifecycleOf(order);
  switch (event.type) {
    case "begin":
      return begin(order, ctx);
    case "report": {
      const { next, pin } = afterReport(order, event.report, ctx);
      return { ...changed(reschedule(order, next, ctx)), ...(pin.length > 0 ? { pin } : {}) };
    }
    case "news_while_settling":
      return changed(newsWhileSettling(current, ctx));
    case "stock":
      return changed(reschedule(order, afterStock(current, event.step, ctx), ctx));
    case "cancel":
      return cancel(current, ctx);
    case "gateway_event":
      return changed(afterGatewayEvent(order, event.kind, event.detail, ctx));
    case "recheck":
      return changed(afterRecheck(current, ctx));
    case "tick":
      return changed(afterTick(order, ctx));
    case "handed_on":
      return changed({
        ...current,
        dueAt: ctx.now + backoffMs(current.dueAttempts, ctx.random, RESEND_AFTER_MS),
        dueAttempts: current.dueAttempts + 1,
      });
    case "refunded":
      return changed(reschedule(order, { ...current, paymentStatus: "refunded" }, ctx));
    case "verified":
      return changed(afterVerify(order, event.found, ctx));
    case "step_failed":
      return changed(backedOff(current, ctx));
  }
}

const changed = (next: Lifecycle): Decision => ({ next, task: null, refusal: null });

function backedOff(order: Lifecycle, ctx: DecideContext): Lifecycle {
  return {
    ...order,
    dueAt: ctx.now + backoffMs(order.dueAttempts, ctx.random),
    dueAttempts: order.dueAttempts + 1,
  };
}

/** The due time for what `next` owes: its lease's end, a payment retry set for later, now or never. */
function reschedule(order: OrderRow, next: Lifecycle, ctx: DecideContext): Lifecycle {
  const dueAt = dueAtFor({ ...next, holdExpiresAt: order.holdExpiresAt }, ctx.now);
  return dueAt === next.dueAt ? next : { ...next, dueAt, dueAttempts: 0 };
}

/** Closes an unpaid order (failed or cancelled): its stock is owed back, a possible charge looked for. */
function close(
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

// ── begin ──────────────────────────────────────────────────────────────────────────────────────

/** Hands out the next attempt, or closes an order whose hold ran out before any payment began. */
function begin(order: OrderRow, ctx: DecideContext): Decision {
  const current = lifecycleOf(order);
  const state = stateOf(current);
  switch (state.name) {
    case "unpaid":
      if (owedWork(order, ctx.now) === "expire") return changed(expire(current, ctx));
      return attempt(order, state.unknownAttempts, ctx);
    case "attempt_out":
      // The attempt out lost its lease without a word: its outcome is unknown from now on.
      return state.leaseUntil > ctx.now ? changed(current) : attempt(order, current.unknownAttempts + 1, ctx);
    case "awaiting_buyer":
    case "processing":
      return attempt(order, current.unknownAttempts, ctx);
    case "charged":
    case "paid":
    case "closed":
      return changed(current);
  }
}

function attempt(order: OrderRow, unknownAttempts: number, ctx: DecideContext): Decision {
  const leaseUntil = ctx.now + ATTEMPT_LEASE_MS;
  const next: Lifecycle = {
    ...lifecycleOf(order),
    attempts: order.attempts + 1,
    unknownAttempts,
    leaseUntil,
    dueAt: leaseUntil,
    dueAttempts: 0,
  };
  const holdsCard = order.holds.some((hold) => hold.allowance === "card");
  const task: PaymentTask = {
    orderId: order.id,
    attempt: next.attempts,
    mode: isOpenPayment(order)
      ? "follow"
      : order.attempts >= ctx.settings.maxAttempts
        ? "withdraw"
        : "charge",
    actionUntil: order.actionUntil,
    mustLookup: unknownAttempts > 0,
    pinned: order.stock === "pinned",
    holds: order.holds,
    cardLimits: holdsCard ? [] : (order.cardLimits ?? []),
    amount: order.total,
    token: order.paymentToken,
    intentId: order.intentId,
  };
  return { next, task, refusal: null };
}

/** The hold ran out before any payment began: nothing can have been charged, so the order fails. */
function expire(order: Lifecycle, ctx: DecideContext): Lifecycle {
  if (chargeMayExist(order)) throw new Error("an order whose charge may exist never expires by time");
  return close(order, "payment_failed", "The stock hold expired before payment began", false, ctx);
}

// ── report ─────────────────────────────────────────────────────────────────────────────────────

/**
 * Applies what an attempt found. A charge is a fact whichever attempt reports it; anything else counts
 * only from the attempt that holds the lease. A "no charge" answer closes the order only when nothing
 * before it was left unknown, or the gateway was asked first; and it clears the doubt about earlier
 * attempts only when the gateway withdrew the payment, so no charge can still land.
 */
function afterReport(
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
function newsWhileSettling(order: Lifecycle, ctx: DecideContext): Lifecycle {
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
  const name = limit.scope === "sku" ? `SKU ${limit.sku}` : `product ${limit.productId}`;
  const money = inDoubt
    ? "a payment an earlier attempt left open is withdrawn, or refunded"
    : "nothing was charged";
  return `purchase_limit_exceeded: at most ${limit.max} of ${name} per customer, and the card paying may buy ${remaining} more now (units its other unpaid orders hold come back if they fail); ${money}`;
}

// ── stock, cancel, the gateway's events, time ─────────────────────────────────────────────────

function afterStock(order: Lifecycle, step: StockStep, ctx: DecideContext): Lifecycle {
  switch (step.kind) {
    case "sold":
      return { ...order, status: "paid", stock: "committed" };
    case "lost":
      // The one charge of this order is known: it is refunded once the units are given back.
      return close(order, "payment_failed", step.reason, false, ctx);
    case "released":
      return { ...order, stock: "released" };
    case "pinned":
      return { ...order, stock: "pinned" };
    case "late_settled":
      return { ...order, holds: [...order.holds, ...order.lateHolds], lateHolds: [] };
  }
}

/**
 * The buyer cancels an order not yet paid: its holds go back at once; a charge that may exist (an
 * attempt out, one that ended unknown, a payment waiting for the buyer) is looked for and withdrawn or
 * refunded. Cancelling a cancelled order again changes nothing.
 */
function cancel(order: Lifecycle, ctx: DecideContext): Decision {
  const state = stateOf(order);
  switch (state.name) {
    case "unpaid":
    case "attempt_out":
    case "awaiting_buyer":
    case "processing":
      return changed(close(order, "cancelled", "Cancelled by the buyer", chargeMayExist(order), ctx));
    case "charged":
      return { next: order, task: null, refusal: "being paid" };
    case "paid":
      return { next: order, task: null, refusal: "paid" };
    case "closed":
      return { next: order, task: null, refusal: state.status === "cancelled" ? null : state.status };
  }
}

/** A pending order is due now, or (with an attempt out) the attempt's report brings it back now. */
function lookAgain(order: Lifecycle, ctx: DecideContext): Lifecycle {
  const leased = order.leaseUntil !== null && order.leaseUntil > ctx.now;
  return order.status === "pending_payment" && !leased
    ? { ...order, eventAt: ctx.now, dueAt: ctx.now, dueAttempts: 0 }
    : { ...order, eventAt: ctx.now };
}

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
function afterGatewayEvent(
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
function afterRecheck(order: Lifecycle, ctx: DecideContext): Lifecycle {
  const spaced = order.eventAt === null || ctx.now - order.eventAt >= RECHECK_SPACING_MS;
  return order.status === "pending_payment" && isOpenPayment(order) && spaced ? lookAgain(order, ctx) : order;
}

function afterTick(order: OrderRow, ctx: DecideContext): Lifecycle {
  if (owedWork(order, ctx.now) === "expire") return expire(lifecycleOf(order), ctx);
  return reschedule(order, lifecycleOf(order), ctx);
}

/**
 * What the gateway answered when asked for a charge that may exist on a closed order (a payment that
 * could still be confirmed was withdrawn first): a charge found is refunded next; none means none can
 * come any more; a payment still settling is asked about again later.
 */
function afterVerify(order: OrderRow, found: ChargeLookup, ctx: DecideContext): Lifecycle {
  const current = lifecycleOf(order);
  if ("chargeId" in found) {
    const next: Lifecycle = {
      ...current,
      chargeInDoubt: false,
      // A refund made is a fact, whatever a lookup a moment later still says.
      paymentStatus: current.paymentStatus === "refunded" ? "refunded" : found.status,
      chargeId: found.chargeId,
      intentId: found.intentId ?? current.intentId,
    };
    return reschedule(order, next, ctx);
  }
  if (found.status === "none") return reschedule(order, { ...current, chargeInDoubt: false }, ctx);
  return backedOff(current, ctx);
}
