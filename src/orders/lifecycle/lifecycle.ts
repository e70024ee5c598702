import type { LimitLine } from "../../inventory/allowances";
import type { SkuHold } from "../../inventory/inventory.holds";
import type { GatewayEventDetail, PaymentAction } from "../../payments/gateway";
import { settings } from "../../shared/config";
import type { Money } from "../../shared/money";
import { cardLimitReason } from "../intake/limits";
import type { OrderChange, OrderRow } from "./order";

/**
 * The order lifecycle, as decisions over one order's row: what it still owes, and how each answer
 * from the payment side moves it. The shard applies these synchronously, so every decision is made
 * on the row as it is now. The invariants they keep:
 * - an order is `paid` only once its stock is committed; a charge whose stock cannot be committed is
 *   refunded and the order fails with a reason;
 * - once a charge may be in flight its holds are pinned, so time alone never releases them: only a
 *   decision on the order does;
 * - a succeeded charge on a failed or cancelled order is always found (`chargeInDoubt`) and refunded;
 * - after an unknown outcome, no decision is made before the gateway has been asked what happened;
 * - a payment waiting for the buyer (3-D Secure) or settling later (processing) is open: it is only
 *   ever asked about, never charged again; the buyer has until `actionUntil`, after which the payment
 *   is withdrawn at the gateway before the order fails, so it cannot complete afterwards.
 */

/** A claim on an Idempotency-Key is locked this long; a retry after it takes the claim over. */
export const CLAIM_LOCK_MS = 30_000;
/** Keys are kept at least 24 h, as the contract promises; the shard drops them after this. */
export const KEY_RETENTION_MS = 48 * 3600 * 1000;
/** How long the payment consumer may hold an attempt before the shard treats its outcome as unknown. */
const ATTEMPT_LEASE_MS = 60_000;
/** An order handed to the queue and not picked up by then is handed over again (then with backoff). */
export const RESEND_AFTER_MS = 10_000;
/** Accepted orders are gathered this long into one queue message per shard. */
export const FLUSH_DELAY_MS = 100;
/** How often a shard writes the orders that changed to D1, in one batch. */
export const PROJECT_EVERY_MS = 1000;
/** A processing payment is asked about this often; the gateway's event usually comes first. */
const PROCESSING_RECHECK_MS = 30_000;
/** A buyer's "I am done" brings the payment to be asked about at most this often. */
export const RECHECK_SPACING_MS = 2000;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 5 * 60_000;

/** Exponential backoff with jitter, per row: half the step fixed, half random. */
export function backoffMs(attempts: number, baseMs = BACKOFF_BASE_MS, capMs = BACKOFF_CAP_MS): number {
  const step = Math.min(capMs, baseMs * 2 ** Math.max(0, attempts));
  return Math.round(step / 2 + Math.random() * (step / 2));
}

/** When to try a payment again after the attempt-th one ended without a known outcome. */
export function paymentRetryMs(env: Env, attempt: number): number {
  const { paymentRetryBaseSeconds: base, paymentRetryMaxDelaySeconds: cap } = settings(env);
  return backoffMs(attempt - 1, base * 1000, cap * 1000);
}

export type Work = "pay" | "await" | "lapse" | "expire" | "commit" | "release" | "refund" | "verify";

/** The gateway has the payment and it is not settled: waiting for the buyer, or processing. */
export function isOpenPayment(order: Pick<OrderRow, "paymentStatus">): boolean {
  return order.paymentStatus === "requires_action" || order.paymentStatus === "processing";
}

/** What an order still owes, judged on its row at `now`; null when nothing is left to do. */
export function owedWork(order: OrderRow, now: number): Work | null {
  if (order.status === "pending_payment") {
    if (order.paymentStatus === "succeeded") return "commit";
    if (order.leaseUntil !== null) return order.leaseUntil > now ? "await" : "lapse";
    const unstarted = order.unknownAttempts === 0 && !isOpenPayment(order);
    if (unstarted && Date.parse(order.holdExpiresAt) <= now) return "expire";
    return "pay";
  }
  if (order.status === "paid") return order.stock === "committed" ? null : "commit";
  if (order.stock === "held" || order.stock === "pinned") return "release";
  if (order.paymentStatus === "succeeded") return "refund";
  if (order.chargeInDoubt) return order.leaseUntil !== null && order.leaseUntil > now ? "await" : "verify";
  return null;
}

/**
 * When an order next owes something: when its attempt's lease ends, when a payment retry set for
 * later comes due (a backoff, the gateway's rate, the buyer's time to act), now, or never.
 */
export function dueAtFor(order: OrderRow, now: number): number | null {
  const work = owedWork(order, now);
  if (work === null) return null;
  if (work === "await") return order.leaseUntil ?? now;
  if (work === "pay" && order.dueAt !== null && order.dueAt > now) return order.dueAt;
  return now;
}

/** Closes an unpaid order as failed (or cancelled): its stock is owed back, a possible charge checked. */
export function close(
  order: OrderRow,
  status: "payment_failed" | "cancelled",
  reason: string | null,
  now: number,
): OrderChange {
  return {
    status,
    failureReason: reason,
    paymentStatus:
      order.paymentStatus !== "pending" && !isOpenPayment(order)
        ? order.paymentStatus
        : status === "cancelled"
          ? "not_charged"
          : "failed",
    // An attempt still out, one whose lease ran out unreported, or a payment the buyer may still
    // complete, may charge: the gateway is asked (and an open payment withdrawn) before it is cleared.
    chargeInDoubt: order.unknownAttempts > 0 || order.leaseUntil !== null || isOpenPayment(order),
    action: null,
    dueAt: now,
    dueAttempts: 0,
  };
}

/** What the payment consumer is asked to do for one order. */
export type PaymentTask = {
  orderId: string;
  attempt: number;
  /**
   * `charge`: charge it (asking first when `mustLookup`); `lookup`: retries are over, only ask;
   * `follow`: the payment is open (the buyer acts, or it processes): ask how it stands, and withdraw
   * it once `actionUntil` has passed.
   */
  mode: "charge" | "lookup" | "follow";
  actionUntil: number | null;
  mustLookup: boolean;
  pinned: boolean;
  holds: SkuHold[];
  /**
   * The limits per customer the paying card must be within before anything is charged: the order's,
   * until its card allowance is held (a card the gateway gives no fingerprint for is counted by the
   * email alone, and asked about again at the next attempt).
   */
  cardLimits: LimitLine[];
  amount: Money;
  token: string;
  intentId: string | null;
};

/** What came of a task; `lookedUp` says the gateway was asked before this answer was given. */
export type PaymentOutcome =
  | { kind: "charged"; chargeId: string; intentId?: string }
  | { kind: "declined"; reason: string; lookedUp: boolean; intentId?: string }
  | { kind: "no_charge"; lookedUp: true }
  | { kind: "lapsed"; lookedUp: boolean }
  | { kind: "unknown"; reason: string; intentId?: string }
  /** The payment is open: the buyer must act (until `actionUntil`), or it is processing. */
  | { kind: "requires_action"; action: PaymentAction; intentId?: string }
  | { kind: "processing"; intentId?: string }
  /** Nothing was charged and nothing learned (inventory or gateway unreachable): try again later. */
  | { kind: "not_attempted"; reason: string; retryAfterMs?: number }
  /**
   * The paying card is past a limit per customer: nothing was charged by this attempt. `inDoubt`: an
   * earlier attempt's payment was found at the gateway, so it is withdrawn or refunded.
   */
  | { kind: "limit_exceeded"; limit: LimitLine["limit"]; remaining: number; inDoubt: boolean };

/** `cardHolds`: the paying card's allowance, held under the order's id by this attempt. */
export type PaymentReport = {
  orderId: string;
  attempt: number;
  pinned: boolean;
  outcome: PaymentOutcome;
  cardHolds?: SkuHold[];
};

/** Whether an order already holds its paying card's allowance (a report recorded it). */
const holdsCardAllowance = (order: Pick<OrderRow, "holds">) =>
  order.holds.some((hold) => hold.allowance === "card");

/** Hands out the next attempt, or says why none is due (the order is closed, busy, or just lapsed). */
export function nextAttempt(
  env: Env,
  order: OrderRow,
  now: number,
): { change: OrderChange; task: PaymentTask | null } {
  const work = owedWork(order, now);
  if (work === "expire") {
    return {
      change: close(order, "payment_failed", "The stock hold expired before payment began", now),
      task: null,
    };
  }
  if (work !== "pay" && work !== "lapse") return { change: {}, task: null };
  const unknownAttempts = order.unknownAttempts + (work === "lapse" ? 1 : 0);
  const attempt = order.attempts + 1;
  const leaseUntil = now + ATTEMPT_LEASE_MS;
  return {
    change: { attempts: attempt, unknownAttempts, leaseUntil, dueAt: leaseUntil, dueAttempts: 0 },
    task: {
      orderId: order.id,
      attempt,
      mode: isOpenPayment(order)
        ? "follow"
        : order.attempts >= settings(env).paymentMaxAttempts
          ? "lookup"
          : "charge",
      actionUntil: order.actionUntil,
      mustLookup: unknownAttempts > 0,
      pinned: order.stock === "pinned",
      holds: order.holds,
      cardLimits: holdsCardAllowance(order) ? [] : (order.cardLimits ?? []),
      amount: order.total,
      token: order.paymentToken,
      intentId: order.intentId,
    },
  };
}

/**
 * Applies what the consumer found. A charge is a fact whichever attempt reports it; anything else
 * counts only from the attempt that holds the lease. A "no charge" answer decides the order only when
 * nothing before it was left unknown, or the gateway was asked first.
 */
export function applyReport(env: Env, order: OrderRow, report: PaymentReport, now: number): OrderChange {
  return { ...decideReport(env, order, report, now), ...withCardHolds(order, report.cardHolds ?? []) };
}

/**
 * The card allowance an attempt held is the order's from now on, whatever the attempt's outcome and
 * whether it still held the lease: it is committed or given back with the other holds. One that
 * arrives after the order's holds were settled (a late report) is settled the same way.
 */
function withCardHolds(order: OrderRow, cardHolds: SkuHold[]): OrderChange {
  const fresh = cardHolds.filter((hold) => !order.holds.some((known) => known.sku === hold.sku));
  if (fresh.length === 0) return {};
  const stock =
    order.stock === "released"
      ? { stock: "held" as const }
      : order.stock === "committed"
        ? { stock: "pinned" as const }
        : {};
  return { holds: [...order.holds, ...fresh], ...stock };
}

function decideReport(env: Env, order: OrderRow, report: PaymentReport, now: number): OrderChange {
  const { outcome } = report;
  const current = report.attempt === order.attempts && order.leaseUntil !== null;
  const stock = report.pinned && order.stock === "held" ? { stock: "pinned" as const } : {};
  // Asking how an open payment stands is not an attempt to charge: it is not counted as one.
  const following = current && isOpenPayment(order) ? { attempts: order.attempts - 1 } : {};
  const intent = "intentId" in outcome && outcome.intentId ? { intentId: outcome.intentId } : {};
  if (outcome.kind === "charged") {
    const charge = { chargeId: outcome.chargeId, intentId: outcome.intentId ?? order.intentId };
    if (order.paymentStatus === "succeeded" || order.paymentStatus === "refunded") return {};
    const lease = current ? { leaseUntil: null } : {};
    return {
      ...charge,
      ...stock,
      ...lease,
      ...following,
      paymentStatus: "succeeded",
      action: null,
      chargeInDoubt: false,
      dueAt: now,
    };
  }
  if (!current || order.status !== "pending_payment") {
    // An attempt that lost its lease reports a payment still open on an order decided without it: a
    // charge may yet come of it, so it is looked up (withdrawn, or found and refunded).
    const open = outcome.kind === "requires_action" || outcome.kind === "processing";
    const closed = order.status === "payment_failed" || order.status === "cancelled";
    const unaccounted = order.paymentStatus !== "succeeded" && order.paymentStatus !== "refunded";
    return open && closed && unaccounted && !order.chargeInDoubt
      ? { ...intent, chargeInDoubt: true, dueAt: now, dueAttempts: 0 }
      : {};
  }
  const retryAt = now + paymentRetryMs(env, report.attempt);
  if (outcome.kind === "not_attempted") {
    // Not counted as an attempt; due again after the backoff, or when the gateway's rate says.
    const dueAt = outcome.retryAfterMs === undefined ? retryAt : now + outcome.retryAfterMs;
    return { ...stock, attempts: order.attempts - 1, leaseUntil: null, dueAt, dueAttempts: 0 };
  }
  if (outcome.kind === "limit_exceeded") {
    // A refusal, like a cancel: nothing was charged by this attempt; a payment an earlier one left at
    // the gateway (found by the attempt's lookup) is withdrawn or refunded once the order is closed.
    const reason = cardLimitReason(outcome.limit, outcome.remaining, outcome.inDoubt);
    const asked = {
      ...order,
      leaseUntil: null,
      unknownAttempts: outcome.inDoubt ? 1 : 0,
      paymentStatus: "pending" as const,
    };
    return { ...stock, ...close(asked, "payment_failed", reason, now), unknownAttempts: 0, leaseUntil: null };
  }
  if (outcome.kind === "requires_action" || outcome.kind === "processing") {
    // The gateway's answer covers every earlier attempt under this payment: nothing is unknown now.
    const waiting = outcome.kind === "requires_action";
    const actionUntil = waiting
      ? (order.actionUntil ?? now + settings(env).paymentActionSeconds * 1000)
      : order.actionUntil;
    // An event (or the buyer) asked for a look while this one was out: look again at once.
    const asked = order.eventAt !== null && order.eventAt >= (order.leaseUntil ?? now) - ATTEMPT_LEASE_MS;
    const next = waiting ? (actionUntil ?? now) : now + PROCESSING_RECHECK_MS;
    return {
      ...stock,
      ...intent,
      ...following,
      paymentStatus: outcome.kind,
      action: waiting ? outcome.action : null,
      actionUntil,
      unknownAttempts: 0,
      leaseUntil: null,
      dueAt: asked ? now : next,
      dueAttempts: 0,
    };
  }
  const definitive = outcome.kind !== "unknown" && (order.unknownAttempts === 0 || outcome.lookedUp);
  if (!definitive) {
    return {
      ...stock,
      ...intent,
      unknownAttempts: order.unknownAttempts + 1,
      leaseUntil: null,
      dueAt: retryAt,
      dueAttempts: 0,
    };
  }
  const reason =
    outcome.kind === "declined"
      ? `Payment declined: ${outcome.reason}`
      : outcome.kind === "lapsed"
        ? "The stock hold lapsed before payment; nothing was charged"
        : `No charge was made after ${order.attempts} attempts`;
  const settled = { ...order, unknownAttempts: 0, leaseUntil: null, paymentStatus: "pending" as const };
  const closed = close(settled, "payment_failed", reason, now);
  return { ...stock, ...intent, ...following, ...closed, unknownAttempts: 0, leaseUntil: null };
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
 * What a gateway event adds to an order besides a look at its payment: the refunded total (the
 * gateway's cumulative figure, so a repeat or a late event changes nothing), a full refund of a paid
 * order, a dispute's standing; and for a closed order, news of a charge puts it in doubt again, so it
 * is looked up and refunded.
 */
export function eventChange(
  order: OrderRow,
  type: string,
  detail: GatewayEventDetail | undefined,
  now: number,
): OrderChange {
  const change: OrderChange = {};
  const currency = order.total.currency;
  const closed = order.status === "payment_failed" || order.status === "cancelled";
  if (detail && "refunded" in detail && detail.refunded.currency === currency) {
    const amount = Math.min(detail.refunded.amount, order.total.amount);
    if (amount > order.refunded) change.refunded = amount;
    const charged = order.status === "paid" || (closed && order.paymentStatus === "succeeded");
    if (charged && order.paymentStatus === "succeeded" && amount >= order.total.amount) {
      // A closed order's refund, owed by us, is then done already.
      change.paymentStatus = "refunded";
    }
  }
  if (detail && "dispute" in detail && detail.dispute.currency === currency) {
    const { id, status, reason, amount } = detail.dispute;
    const stage = (value: string | undefined) => DISPUTE_STAGES[value ?? ""] ?? 0;
    const known = order.dispute;
    if (!known || known.id !== id || stage(status) >= stage(known.status)) {
      if (known?.status !== status || known.id !== id) {
        change.dispute = { id, status, reason, amount: { amount, currency } };
      }
    }
  }
  const chargeNews = type === "payment_intent.succeeded" || type === "charge.succeeded";
  const unaccounted = order.paymentStatus !== "succeeded" && order.paymentStatus !== "refunded";
  if (closed && chargeNews && unaccounted && !order.chargeInDoubt) {
    Object.assign(change, { chargeInDoubt: true, dueAt: now, dueAttempts: 0 });
  }
  return change;
}
