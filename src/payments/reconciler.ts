import { lt } from "drizzle-orm";
import { settings } from "../config";
import { database } from "../db/client";
import { idempotencyKeys } from "../db/schema";
import { markSent, ordersToReconcile, unsentPayments } from "../orders/orders.storage";
import { logEvent } from "../shared/log";
import { settleByGatewayTruth } from "./settlement";

/** An outbox row this old that is still unsent lost its enqueue: checkout answered long ago. */
const OUTBOX_GRACE_MS = 30_000;
const BATCH = 100;

export type ReconcileReport = { resent: number; settled: number; expiredKeys: number; failures: number };

/**
 * The safety net behind the queue: re-sends payments whose enqueue was lost, settles orders that are
 * still pending long after checkout (or paid without committed stock, or closed with a live charge)
 * by asking the gateway what really happened, and drops idempotency keys past their retention.
 * Runs on the cron trigger and from `POST /v1/admin/reconcile`.
 */
export async function reconcile(env: Env, now = Date.now()): Promise<ReconcileReport> {
  const db = database(env.DB);
  const report: ReconcileReport = { resent: 0, settled: 0, expiredKeys: 0, failures: 0 };

  for (const { orderId } of await unsentPayments(db, now - OUTBOX_GRACE_MS, BATCH)) {
    try {
      await env.PAYMENTS.send({ orderId });
      await markSent(db, orderId);
      report.resent++;
    } catch (error) {
      report.failures++;
      logEvent("error", "outbox re-send failed", { orderId, error: String(error) });
    }
  }

  const pendingBefore = new Date(now - settings(env).reconcileAfterSeconds * 1000).toISOString();
  for (const order of await ordersToReconcile(db, pendingBefore, BATCH)) {
    try {
      await settleByGatewayTruth(env, order.id);
      report.settled++;
    } catch (error) {
      report.failures++;
      logEvent("error", "reconcile failed", { orderId: order.id, error: String(error) });
    }
  }

  const expired = await db
    .delete(idempotencyKeys)
    .where(lt(idempotencyKeys.expiresAt, now))
    .returning({ keyHash: idempotencyKeys.keyHash });
  report.expiredKeys = expired.length;
  return report;
}
