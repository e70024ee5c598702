import { sql } from "drizzle-orm";
import { statement } from "../../db/client";
import { fulfillmentStatus } from "../lifecycle/after-sale";
import type { OrderRow } from "../lifecycle/order";
import { toOrderView } from "../orders.view";

/**
 * The D1 copy of the orders, for listing and reporting across shards. Each shard writes the orders
 * that changed since its last write, all in one D1 batch (one transaction) of two statements, whatever
 * their number: the rows travel as one JSON parameter. A row is replaced only by a newer version of
 * itself, so writes that arrive late or twice never move an order back.
 */
export async function projectOrders(d1: D1Database, rows: OrderRow[]): Promise<void> {
  if (rows.length === 0) return;
  const payload = JSON.stringify(
    rows.map((row) => ({
      id: row.id,
      status: row.status,
      tokenHash: row.tokenHash,
      email: row.customer.email.toLowerCase(),
      name: row.customer.name ?? null,
      shippingAddress: row.shippingAddress ?? null,
      currency: row.total.currency,
      total: row.total.amount,
      paymentToken: row.paymentToken,
      paymentStatus: row.paymentStatus,
      attempts: row.attempts,
      chargeId: row.chargeId,
      refunded: row.refunded,
      dispute: row.dispute,
      holds: row.holds,
      holdExpiresAt: row.holdExpiresAt,
      stockCommitted: row.stock === "committed" ? 1 : 0,
      failureReason: row.failureReason,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      version: row.version,
      fulfillmentStatus: fulfillmentStatus(row),
      view: toOrderView(row),
      items: row.items.map((item) => ({
        sku: item.sku,
        productId: item.productId,
        title: item.title,
        quantity: item.quantity,
        unitAmount: item.unitPrice.amount,
        currency: item.unitPrice.currency,
      })),
    })),
  );
  await d1.batch([
    statement(
      d1,
      sql`INSERT INTO orders (id, status, token_hash, email, name, shipping_address, currency, total_amount,
            payment_token, payment_status, payment_attempts, charge_id, refunded_amount, dispute, holds,
            hold_expires_at, stock_committed, failure_reason, created_at, updated_at, version,
            fulfillment_status, view)
          SELECT value->>'id', value->>'status', value->>'tokenHash', value->>'email', value->>'name',
            value->>'shippingAddress', value->>'currency', value->>'total', value->>'paymentToken',
            value->>'paymentStatus', value->>'attempts', value->>'chargeId', value->>'refunded',
            value->>'dispute', value->>'holds',
            value->>'holdExpiresAt', value->>'stockCommitted', value->>'failureReason',
            value->>'createdAt', value->>'updatedAt', value->>'version',
            value->>'fulfillmentStatus', value->>'view'
          FROM json_each(${payload}) WHERE true
          ON CONFLICT (id) DO UPDATE SET status = excluded.status, payment_status = excluded.payment_status,
            payment_attempts = excluded.payment_attempts, charge_id = excluded.charge_id,
            refunded_amount = excluded.refunded_amount, dispute = excluded.dispute, holds = excluded.holds,
            stock_committed = excluded.stock_committed, failure_reason = excluded.failure_reason,
            updated_at = excluded.updated_at, version = excluded.version,
            fulfillment_status = excluded.fulfillment_status, view = excluded.view
          WHERE excluded.version > orders.version`,
    ),
    statement(
      d1,
      sql`INSERT INTO order_items (order_id, sku, product_id, title, quantity, unit_amount, currency)
          SELECT o.value->>'id', i.value->>'sku', i.value->>'productId', i.value->>'title',
            i.value->>'quantity', i.value->>'unitAmount', i.value->>'currency'
          FROM json_each(${payload}) AS o, json_each(o.value->'items') AS i WHERE true
          ON CONFLICT DO NOTHING`,
    ),
  ]);
}
