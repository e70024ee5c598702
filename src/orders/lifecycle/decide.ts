import type { SkuHold } from "../../inventory/inventory.holds";
import type { ChargeLookup, GatewayEventDetail } from "../../payments/gateway";
import type { PaymentReport, PaymentTask } from "../protocol";
import {
  type AfterSaleRefusal,
  afterRefundAnswer,
  afterRestock,
  type Fulfillment,
  type FulfillmentRequest,
  fulfillmentOf,
  type Refund,
  type RefundAnswer,
  type RefundRequest,
  refundOf,
  withRefund,
} from "./after-sale";
import { backedOff, close, reschedule } from "./changes";
import { usesReturnable } from "./code-uses";
import { afterGatewayEvent, afterRecheck } from "./news";
import { type Lifecycle, lifecycleOf, type OrderRow } from "./order";
import { afterReport, newsWhileSettling } from "./reports";
import { chargeMayExist, isOpenPayment, owedWork, stateOf } from "./states";
import { ATTEMPT_LEASE_MS, backoffMs, type DecideContext, RESEND_AFTER_MS } from "./timing";

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
  | { type: "step_failed" }
  /** The shop refunds (part of) a paid order, or cancels it before it ships (see after-sale.ts). */
  | { type: "refund"; request: RefundRequest }
  /** The gateway answered a refund the shop asked for. */
  | { type: "refund_answered"; refundId: string; answer: RefundAnswer }
  /** A refund's units are back in stock. */
  | { type: "restocked"; refundId: string }
  /** The discount code's use of a fully refunded order is back where it was counted (code-uses.ts). */
  | { type: "uses_returned" }
  /** The shop ships lines of a paid order. */
  | { type: "fulfil"; request: FulfillmentRequest };

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
  /** For `refund` and `fulfil`: what was made (or found made before), or why not. */
  made?: { refund: Refund } | { fulfillment: Fulfillment; replayed: boolean } | { refused: AfterSaleRefusal };
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
      return changed(reschedule(order, afterStock(current, event.step, order.total.amount, ctx), ctx));
    case "cancel":
      return cancel(current, ctx);
    case "gateway_event": {
      const next = afterGatewayEvent(order, event.kind, event.detail, ctx);
      // What a settled order owes may change with the gateway's word (a refund it reports makes one
      // the order owed needless): its due time follows. A pending order is looked at again as set.
      return changed(order.status === "pending_payment" ? next : reschedule(order, next, ctx));
    }
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
    case "refund": {
      const made = refundOf(order, event.request, ctx.now);
      if ("refusal" in made) return { ...changed(current), made: { refused: made.refusal } };
      return { ...changed(withRefund(current, made.refund, ctx.now)), made };
    }
    case "refund_answered":
      return changed(reschedule(order, afterRefundAnswer(order, event.refundId, event.answer, ctx.now), ctx));
    case "restocked":
      return changed(reschedule(order, afterRestock(order, event.refundId), ctx));
    case "uses_returned":
      // Only an order its code's rule gives the use back to records it (an invariant as well).
      if (!usesReturnable(order)) return changed(current);
      return changed(reschedule(order, { ...current, usesReturned: true }, ctx));
    case "fulfil": {
      const made = fulfillmentOf(order, event.request, ctx.now);
      if ("refusal" in made) return { ...changed(current), made: { refused: made.refusal } };
      if (made.replayed) return { ...changed(current), made };
      return { ...changed({ ...current, fulfillments: [...current.fulfillments, made.fulfillment] }), made };
    }
  }
}

const changed = (next: Lifecycle): Decision => ({ next, task: null, refusal: null });

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

// ── stock, cancel, time ──────────────────────────────────────────────────────────────────────

function afterStock(order: Lifecycle, step: StockStep, total: number, ctx: DecideContext): Lifecycle {
  switch (step.kind) {
    case "sold": {
      // The gateway may have reported the charge refunded in full before the units were sold (a
      // refund made in its dashboard within that moment): it is paid, and refunded, at once.
      const refundedFirst = order.paymentStatus === "succeeded" && order.refunded >= total;
      return {
        ...order,
        status: "paid",
        stock: "committed",
        ...(refundedFirst ? { paymentStatus: "refunded" } : {}),
      };
    }
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
