import { eq } from "drizzle-orm";
import { settings } from "../config";
import { database } from "../db/client";
import { type OrderRow, orders } from "../db/schema";
import { commitHolds, extendHolds, releaseHolds } from "../inventory/inventory.holds";
import {
  countAttempt,
  findOrder,
  markRefunded,
  markStockCommitted,
  transition,
} from "../orders/orders.storage";
import { logEvent } from "../shared/log";
import { type ChargeLookup, chargeKey, gatewayFor, type PaymentGateway } from "./gateway";

/** What the caller should do with the message that asked for this: done, or try again later. */
export type Settlement = "settled" | "retry";

/**
 * A charge exists for the order. The order becomes `paid` only if it is still pending; whoever
 * moves it out of pending owns its holds, so a cancel that won the race keeps the stock released and
 * the charge is refunded instead.
 */
async function onCharged(env: Env, gateway: PaymentGateway, order: OrderRow, chargeId: string) {
  const db = database(env.DB);
  if (await transition(db, order.id, "paid", { paymentStatus: "succeeded", chargeId })) {
    await commitStock(env, order);
    logEvent("info", "order paid", { orderId: order.id, chargeId });
    return;
  }
  const current = await findOrder(db, order.id);
  if (current?.status === "paid") {
    if (!current.stockCommitted) await commitStock(env, current);
    return;
  }
  // Cancelled or failed while the charge was landing: record the charge, then give the money back.
  await db.update(orders).set({ paymentStatus: "succeeded", chargeId }).where(eq(orders.id, order.id));
  await gateway.refund(chargeId, `refund-${order.id}`);
  await markRefunded(db, order.id);
  logEvent("warn", "charge on a closed order refunded", {
    orderId: order.id,
    chargeId,
    status: current?.status,
  });
}

async function commitStock(env: Env, order: OrderRow) {
  const results = await commitHolds(env, order.id, order.holds);
  const lost = results.filter(({ result }) => !result.ok);
  if (lost.length > 0) {
    // Paid, but a hold was no longer there to commit: someone must look at this stock by hand.
    logEvent("error", "paid order could not commit its holds", { orderId: order.id, lost });
    return;
  }
  await markStockCommitted(database(env.DB), order.id);
}

async function onDeclined(env: Env, order: OrderRow, reason: string) {
  if (await transition(database(env.DB), order.id, "payment_failed", { paymentStatus: "failed" })) {
    await releaseHolds(env, order.id, order.holds);
    logEvent("info", "payment failed", { orderId: order.id, reason });
  }
}

/** Settles an order from what the gateway says really happened (charged or not). */
async function settleFromLookup(env: Env, gateway: PaymentGateway, order: OrderRow, lookup: ChargeLookup) {
  if (lookup.status === "succeeded") await onCharged(env, gateway, order, lookup.chargeId);
  else await onDeclined(env, order, "no charge found at the gateway");
}

/** Finishes what a closed order may have left: a paid order's stock, a charge to give back. */
async function tidyClosed(env: Env, gateway: PaymentGateway, order: OrderRow): Promise<Settlement> {
  if (order.status === "paid") {
    if (!order.stockCommitted) await commitStock(env, order);
    return "settled";
  }
  const lookup = await gateway.lookup(chargeKey(order.id), order.id);
  if (lookup.status === "succeeded") await onCharged(env, gateway, order, lookup.chargeId);
  return "settled";
}

/**
 * One attempt to take payment for an order, safe to run any number of times for the same order:
 * the gateway call is idempotent by the order's charge key, and after any attempt whose outcome is
 * unknown the gateway is asked what happened before charging again.
 */
export async function attemptPayment(env: Env, orderId: string): Promise<Settlement> {
  const db = database(env.DB);
  const order = await findOrder(db, orderId);
  if (!order) {
    logEvent("warn", "payment for an unknown order dropped", { orderId });
    return "settled";
  }
  const gateway = await gatewayFor(env);
  if (order.status !== "pending_payment") return tidyClosed(env, gateway, order);

  const extendTo = Date.now() + settings(env).paymentHoldExtensionSeconds * 1000;
  const extended = await extendHolds(env, order.id, order.holds, extendTo);
  if (extended.some(({ result }) => !result.ok)) {
    // The hold lapsed before payment began (say, behind a long queue backlog): its units may be
    // sold to someone else by now, so this order must not be charged.
    await onDeclined(env, order, "stock hold lapsed before payment");
    return "settled";
  }
  const attempts = await countAttempt(db, order.id);
  const key = chargeKey(order.id);

  if (attempts > 1) {
    const lookup = await gateway.lookup(key, order.id);
    if (lookup.status === "succeeded") {
      await onCharged(env, gateway, order, lookup.chargeId);
      return "settled";
    }
  }

  const outcome = await gateway.charge({
    orderId: order.id,
    idempotencyKey: key,
    amount: { amount: order.totalAmount, currency: order.currency },
    token: order.paymentToken,
  });
  if (outcome.status === "succeeded") {
    await onCharged(env, gateway, order, outcome.chargeId);
    return "settled";
  }
  if (outcome.status === "declined") {
    await onDeclined(env, order, outcome.reason);
    return "settled";
  }
  logEvent("warn", "payment outcome unknown; will retry", {
    orderId: order.id,
    attempts,
    reason: outcome.reason,
  });
  return "retry";
}

/**
 * For an order whose retries are exhausted, or that stayed pending too long: no more charging,
 * only asking the gateway what happened and settling the order to match.
 */
export async function settleByGatewayTruth(env: Env, orderId: string): Promise<void> {
  const order = await findOrder(database(env.DB), orderId);
  if (!order) return;
  const gateway = await gatewayFor(env);
  if (order.status !== "pending_payment") {
    await tidyClosed(env, gateway, order);
    return;
  }
  await settleFromLookup(env, gateway, order, await gateway.lookup(chargeKey(order.id), order.id));
}

/** Exponential backoff with jitter: half the step fixed, half random, so retries spread out. */
export function retryDelaySeconds(env: Env, attempts: number): number {
  const { paymentRetryBaseSeconds: base, paymentRetryMaxDelaySeconds: cap } = settings(env);
  const step = Math.min(cap, base * 2 ** Math.max(0, attempts - 1));
  return Math.round(step / 2 + Math.random() * (step / 2));
}
