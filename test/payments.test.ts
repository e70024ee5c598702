import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { chargeKey } from "../src/payments/gateway";
import {
  type Accepted,
  admin,
  call,
  chargesFor,
  checkoutBody,
  postCheckout,
  settledOrder,
  stockedSku,
  stockOf,
} from "./helpers";

async function placeOrder(token: string, quantity = 2, onHand = 10) {
  const sku = await stockedSku(onHand);
  const response = await postCheckout(checkoutBody([{ sku, quantity }], token));
  expect(response.status).toBe(202);
  return { sku, accepted: await response.json<Accepted>() };
}

/** A charge the gateway made for the order that the payment side has not heard of yet. */
async function chargeBehindTheQueue(accepted: Accepted) {
  await env.SIMULATOR.getByName("simulator").charge({
    idempotencyKey: chargeKey(accepted.orderId),
    orderId: accepted.orderId,
    amount: accepted.total.amount,
    currency: accepted.total.currency,
    token: "tok_ok",
  });
}

describe("payments through the queue, per simulator token", () => {
  it("tok_ok: paid, one charge, stock committed", async () => {
    const { sku, accepted } = await placeOrder("tok_ok");
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded", attempts: 1 } });
    const charges = await chargesFor(accepted.orderId);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ status: "succeeded", idempotencyKey: chargeKey(accepted.orderId) });
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, reserved: 0, available: 8, committed: 2 });
  });

  it("tok_declined: payment_failed, no charge, stock released", async () => {
    const { sku, accepted } = await placeOrder("tok_declined");
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
    expect(await chargesFor(accepted.orderId)).toEqual([]);
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 0, committed: 0 });
  });

  it("tok_flaky: two gateway errors, then paid with one charge on the third attempt", async () => {
    const { sku, accepted } = await placeOrder("tok_flaky");
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded", attempts: 3 } });
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, committed: 2 });
  });

  it("tok_timeout_after_charge: the retry finds the charge instead of making a second one", async () => {
    const { sku, accepted } = await placeOrder("tok_timeout_after_charge");
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, committed: 2 });
  });

  it("tok_down: retries run out, the dead-letter consumer settles payment_failed, no charge", async () => {
    const { sku, accepted } = await placeOrder("tok_down");
    const order = await settledOrder(accepted.orderId, accepted.orderToken, 30_000);
    expect(order).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
    expect(order.payment.attempts).toBeGreaterThan(1);
    expect(await chargesFor(accepted.orderId)).toEqual([]);
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 0, committed: 0 });
  }, 40_000);
});

describe("duplicates, races and recovery", () => {
  it("charges once and commits once when a payment message is delivered twice", async () => {
    const { sku, accepted } = await placeOrder("tok_ok");
    await settledOrder(accepted.orderId, accepted.orderToken);
    const batch = createMessageBatch("stampede-payments", [
      { id: "dup-1", timestamp: new Date(), attempts: 1, body: { orderId: accepted.orderId } },
      { id: "dup-2", timestamp: new Date(), attempts: 1, body: { orderId: accepted.orderId } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["dup-1", "dup-2"]);
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, committed: 2 });
  });

  it("drops a malformed payment message with an ack instead of retrying it forever", async () => {
    const batch = createMessageBatch("stampede-payments", [
      { id: "bad", timestamp: new Date(), attempts: 1, body: { order: 42 } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["bad"]);
  });

  it("refunds a charge that lands on an order cancelled while it was in flight", async () => {
    // tok_down keeps the queue from charging; the charge "in flight" is made here under the order's key.
    const { sku, accepted } = await placeOrder("tok_down");
    await chargeBehindTheQueue(accepted);
    const cancelled = await call(`/v1/orders/${accepted.orderId}/cancel`, {
      method: "POST",
      headers: { Authorization: `Bearer ${accepted.orderToken}` },
    });
    expect(cancelled.status).toBe(200);
    const batch = createMessageBatch("stampede-payments", [
      { id: "late", timestamp: new Date(), attempts: 2, body: { orderId: accepted.orderId } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    await getQueueResult(batch, ctx);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "cancelled", payment: { status: "refunded" } });
    const charges = await chargesFor(accepted.orderId);
    expect(charges.map((c) => c.status)).toEqual(["refunded"]);
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 0, committed: 0 });
  });

  it("sends the payment later from the outbox when enqueueing failed at checkout", async () => {
    const sku = await stockedSku(5);
    const failingQueue = { send: () => Promise.reject(new Error("queue unavailable")) } as unknown as Queue;
    const response = await postCheckout(
      checkoutBody([{ sku, quantity: 1 }]),
      undefined,
      {},
      { PAYMENTS: failingQueue },
    );
    expect(response.status).toBe(202);
    const accepted = await response.json<Accepted>();
    const outbox = await env.DB.prepare("SELECT sent_at FROM payment_outbox WHERE order_id = ?")
      .bind(accepted.orderId)
      .first<{ sent_at: number | null }>();
    expect(outbox?.sent_at).toBeNull();

    const { reconcile } = await import("../src/payments/reconciler");
    const report = await reconcile(env, Date.now() + 60_000);
    expect(report.resent).toBeGreaterThanOrEqual(1);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order.status).toBe("paid");
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
  });

  it("settles a dead-lettered payment from what the gateway really did", async () => {
    const { sku, accepted } = await placeOrder("tok_down");
    // The gateway did charge (say its answer was lost): the dead-letter consumer must find it.
    await chargeBehindTheQueue(accepted);
    const batch = createMessageBatch("stampede-payments-dlq", [
      { id: "dead", timestamp: new Date(), attempts: 1, body: { orderId: accepted.orderId } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["dead"]);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, committed: 2 });
  });

  it("lists orders for admins by status", async () => {
    const { accepted } = await placeOrder("tok_declined");
    await settledOrder(accepted.orderId, accepted.orderToken);
    const response = await admin("GET", "/v1/admin/orders?status=payment_failed&limit=100");
    const page = await response.json<{ items: { id: string; status: string }[] }>();
    expect(page.items.map((o) => o.id)).toContain(accepted.orderId);
    expect(new Set(page.items.map((o) => o.status))).toEqual(new Set(["payment_failed"]));
  });
});

describe("a hold that lapsed before payment began", () => {
  it("fails the order without charging it, since its units may be sold elsewhere", async () => {
    const sku = await stockedSku(5);
    // A queue that accepts the message and never delivers it, as a long backlog would.
    const silentQueue = { send: () => Promise.resolve() } as unknown as Queue;
    const response = await postCheckout(
      checkoutBody([{ sku, quantity: 2 }], "tok_ok"),
      undefined,
      {},
      { PAYMENTS: silentQueue },
    );
    const accepted = await response.json<Accepted>();
    await runInDurableObject(env.INVENTORY.getByName(sku), (_, state) => {
      state.storage.sql.exec("UPDATE reservations SET expires_at = 0 WHERE order_id = ?", accepted.orderId);
    });
    const batch = createMessageBatch("stampede-payments", [
      { id: "late-start", timestamp: new Date(), attempts: 1, body: { orderId: accepted.orderId } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["late-start"]);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
    expect(await chargesFor(accepted.orderId)).toEqual([]);
    expect(await stockOf(sku)).toMatchObject({ onHand: 5, reserved: 0, committed: 0 });
  });
});
