import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { reconcile } from "../src/orders/reconcile";
import { chargeKey } from "../src/payments/gateway";
import {
  type Accepted,
  admin,
  chargesFor,
  checkoutBody,
  deliverOneBatch,
  patchShardRow,
  postCheckout,
  runShardAlarm,
  settledOrder,
  shardRow,
  silenceQueue,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

async function placeOrder(token: string, quantity = 2, onHand = 10) {
  const sku = await stockedSku(onHand);
  const response = await postCheckout(checkoutBody([{ sku, quantity }], token));
  expect(response.status).toBe(202);
  return { sku, accepted: await response.json<Accepted>() };
}

/** Delivers one batch to a queue consumer as the runtime would; answers what it acked and retried. */
async function deliver(queue: string, bodies: unknown[]) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `m-${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
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

  it("tok_declined: payment_failed with the reason, no charge, stock released", async () => {
    const { sku, accepted } = await placeOrder("tok_declined");
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({
      status: "payment_failed",
      failureReason: "Payment declined: card_declined",
      payment: { status: "failed" },
    });
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
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded", attempts: 2 } });
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, committed: 2 });
  });

  it("tok_down: retries run out, the gateway is asked, payment_failed with no charge", async () => {
    const { sku, accepted } = await placeOrder("tok_down");
    const order = await settledOrder(accepted.orderId, accepted.orderToken, 30_000);
    expect(order).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
    expect(order.payment.attempts).toBeGreaterThan(8);
    expect(await chargesFor(accepted.orderId)).toEqual([]);
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 0, committed: 0 });
  }, 40_000);
});

describe("duplicates and lost messages", () => {
  it("charges once and commits once when a payment message is delivered twice", async () => {
    const { sku, accepted } = await placeOrder("tok_ok");
    await settledOrder(accepted.orderId, accepted.orderToken);
    const result = await deliver("stampede-payments", [
      { orders: [accepted.orderId] },
      { orders: [accepted.orderId, accepted.orderId] },
    ]);
    expect(result.explicitAcks.sort()).toEqual(["m-0", "m-1"]);
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, committed: 2 });
  });

  it("drops a malformed payment message with an ack instead of retrying it forever", async () => {
    const result = await deliver("stampede-payments", [
      { order: 42 },
      { orders: ["not-an-order-id"] },
      { orders: ["01KAAAAAAAAAAAAAAAAAAAAAAA-1", "01KAAAAAAAAAAAAAAAAAAAAAAA-2"] },
    ]);
    expect(result.explicitAcks.sort()).toEqual(["m-0", "m-1", "m-2"]);
  });

  it("hands a lost payment message on again from the shard's alarm, and the order is paid", async () => {
    const sku = await stockedSku(5);
    const restore = silenceQueue();
    let accepted: Accepted;
    try {
      const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok"));
      accepted = await response.json<Accepted>();
      // The shard hands the order to the queue, which loses it.
      await runShardAlarm(accepted.orderId);
    } finally {
      restore();
    }
    expect((await settledOrder(accepted.orderId, accepted.orderToken, 500)).status).toBe("pending_payment");
    // Ten seconds later its due time comes, and the alarm hands it on again.
    expect(Number((await shardRow(accepted.orderId))?.due_at)).toBeLessThanOrEqual(Date.now() + 10_000);
    await patchShardRow(accepted.orderId, "due_at = ?", Date.now() - 1);
    expect(await runShardAlarm(accepted.orderId)).toBe(true);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order.status).toBe("paid");
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
  });

  it("settles the orders of a dead-lettered message like any other", async () => {
    const restore = silenceQueue();
    let placed: Awaited<ReturnType<typeof placeOrder>>;
    try {
      placed = await placeOrder("tok_ok");
    } finally {
      restore();
    }
    const result = await deliver("stampede-payments-dlq", [{ orders: [placed.accepted.orderId] }]);
    expect(result.explicitAcks).toEqual(["m-0"]);
    const order = await settledOrder(placed.accepted.orderId, placed.accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
    expect(await stockOf(placed.sku)).toMatchObject({ onHand: 8, committed: 2 });
  });

  it("lists orders for admins by status once the shards have written them to D1", async () => {
    const { accepted } = await placeOrder("tok_declined");
    await settledOrder(accepted.orderId, accepted.orderToken);
    await reconcile(env);
    const response = await admin("GET", "/v1/admin/orders?status=payment_failed&limit=100");
    const page = await response.json<{ items: { id: string; status: string; failureReason: string }[] }>();
    expect(page.items.find((o) => o.id === accepted.orderId)).toMatchObject({
      status: "payment_failed",
      failureReason: "Payment declined: card_declined",
    });
    expect(new Set(page.items.map((o) => o.status))).toEqual(new Set(["payment_failed"]));
  });
});

/** One queue batch holding one message per order (orders of any shards), as the queue may deliver them. */
describe("staying under the payment gateway's rate", () => {
  it("grants one second's worth at once, then calls as the rate refills", async () => {
    const pacer = env.PACER.getByName(unique("pacer"));
    expect(await pacer.take(10, 4)).toMatchObject({ granted: 4 });
    expect(await pacer.take(10, 4)).toMatchObject({ granted: 0 });
    await new Promise((resolve) => setTimeout(resolve, 600));
    const later = await pacer.take(10, 4);
    expect(later.granted).toBeGreaterThanOrEqual(2);
    expect(later.granted).toBeLessThanOrEqual(3);
  });

  it("charges what the rate allows, keeps the rest waiting on pinned holds without counting an attempt, and pays them in turn", async () => {
    const restoreQueue = silenceQueue();
    const paced = { PAYMENT_GATEWAY_RPS: "1.5" } as Partial<Env>;
    try {
      const sku = await stockedSku(10);
      const orders: Accepted[] = [];
      for (let i = 0; i < 4; i++) {
        const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }]));
        orders.push(await response.json<Accepted>());
      }
      const ids = orders.map((o) => o.orderId);
      await deliverOneBatch(ids, paced);
      const rows = await Promise.all(ids.map(shardRow));
      const paid = rows.filter((row) => row?.status === "paid");
      const waiting = rows.filter((row) => row?.status === "pending_payment");
      expect(paid).toHaveLength(1);
      expect(waiting).toHaveLength(3);
      for (const row of waiting) {
        expect(row).toMatchObject({ attempts: 0 });
        // Due again when its turn comes at 1.5/s, one after another.
        expect(Number(row?.due_at) - Date.now()).toBeLessThan(3000);
      }
      const stock = await stockOf(sku);
      expect(stock).toMatchObject({ reserved: 3, committed: 1 });
      // The waiting orders keep their units whatever the time: their holds are pinned.
      expect(stock.holds).toHaveLength(3);
      expect(stock.holds.every((hold) => (hold as { pinned: boolean }).pinned)).toBe(true);
      for (const order of orders) expect((await chargesFor(order.orderId)).length).toBeLessThanOrEqual(1);

      // Each later delivery pays as many as the rate has refilled, until all are paid.
      await vi.waitFor(
        async () => {
          await deliverOneBatch(ids, paced);
          const statuses = await Promise.all(ids.map(async (id) => (await shardRow(id))?.status));
          expect(statuses).toEqual(["paid", "paid", "paid", "paid"]);
        },
        { timeout: 20_000, interval: 700 },
      );
      for (const order of orders) expect(await chargesFor(order.orderId)).toHaveLength(1);
      expect(await stockOf(sku)).toMatchObject({ reserved: 0, committed: 4, onHand: 6 });
    } finally {
      restoreQueue();
    }
  }, 60_000);
});
