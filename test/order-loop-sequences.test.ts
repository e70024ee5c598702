import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { reconcile } from "../src/orders/reconcile";
import {
  type Accepted,
  cancelOrder,
  chargeBehindTheQueue,
  chargesFor,
  checkoutBody,
  deliverPayments,
  orderOf,
  patchShardRow,
  postCheckout,
  settleShards,
  shardOf,
  shardOfTestKey,
  silenceQueue,
  stallReserves,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

/**
 * The four sequences a review drove against the order loop, each of which broke a promise: a fence
 * that restarted, a refusal that contradicted an order still being placed, a lookup that closed an
 * order while a lapsed attempt's charge was on its way, and a simulator weaker than Stripe.
 */

/** The claim on a key locked until long ago: its request is taken to have stopped. */
async function lapseClaim(key: string) {
  const { keyHash, stub } = await shardOfTestKey(key);
  await runInDurableObject(stub, (_, state) => {
    state.storage.sql.exec("UPDATE keys SET locked_until = 1 WHERE key_hash = ?", keyHash);
  });
}

describe("a fence that never repeats (sequence 1)", () => {
  it("does not let a stalled request record its order on a claim made after its own was healed away", async () => {
    const restoreQueue = silenceQueue();
    const sku = await stockedSku(5);
    const key = unique("refenced");
    const bodyA = checkoutBody([{ sku, quantity: 2 }], "tok_ok");
    const bodyB = checkoutBody([{ sku, quantity: 1 }], "tok_ok");
    const stall = stallReserves((name) => name === sku);
    try {
      const a = postCheckout(bodyA, key);
      await stall.reached(0);
      // A's lock runs out and the shard's heal gives its claim up; B comes with the same key and
      // another body, and stalls in its own reserve.
      await lapseClaim(key);
      await reconcile(env);
      const b = postCheckout(bodyB, key);
      await stall.reached(1);
      // A's reserve returns first: its claim is gone, so it must not record anything.
      stall.letGo(0);
      const answerA = await a;
      stall.letGo(1);
      const answerB = await b;
      expect(answerA.status).toBe(503);
      expect(answerB.status).toBe(202);
      const placed = await answerB.json<Accepted>();
      expect(placed.items).toMatchObject([{ sku, quantity: 1 }]);

      // B's retry gets B's order back; A's body under B's key is a mismatch.
      const retryB = await postCheckout(bodyB, key);
      expect(retryB.headers.get("Idempotent-Replayed")).toBe("true");
      expect(await retryB.json()).toMatchObject({ orderId: placed.orderId });
      expect((await postCheckout(bodyA, key)).status).toBe(422);
      // A's units went back: only B's unit is held.
      await settleShards();
      expect(await stockOf(sku)).toMatchObject({ reserved: 1, available: 4 });
    } finally {
      stall.restore();
      restoreQueue();
    }
  }, 60_000);
});

describe("a refusal never contradicts an order still being placed (sequence 2)", () => {
  it("fences off a lapsed claim before the edge answers its retry 'sold out'", async () => {
    const restoreQueue = silenceQueue();
    const sku = await stockedSku(1);
    const key = unique("told-sold-out");
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_ok");
    // Only the first reserve (A's) stalls; everyone else's goes through.
    let first = true;
    const stall = stallReserves((name) => {
      const stalls = name === sku && first;
      if (stalls) first = false;
      return stalls;
    });
    try {
      const a = postCheckout(body, key);
      await stall.reached(0);
      await lapseClaim(key);
      // The SKU sells out at this location, then a unit comes back.
      const c = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok"));
      expect(c.status).toBe(202);
      expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }]))).status).toBe(409);
      expect((await cancelOrder(await c.json<Accepted>())).status).toBe(200);
      expect(await stockOf(sku)).toMatchObject({ available: 1 });

      // The buyer retries A's request and is told the SKU is sold out, from this location's memory.
      const retry = await postCheckout(body, key);
      expect(retry.status).toBe(409);
      expect(await retry.json()).toMatchObject({ code: "insufficient_stock" });
      // A's reserve now returns: the order the buyer was told could not be placed is not placed.
      stall.letGo(0);
      expect((await a).status).toBe(503);
      await settleShards();
      expect(await stockOf(sku)).toMatchObject({ reserved: 0, available: 1 });
    } finally {
      stall.restore();
      restoreQueue();
    }
  }, 60_000);
});

/** Begins an attempt at the shard and reports it as the consumer would, with `outcome`. */
async function reportAttempt(
  accepted: Accepted,
  outcome: Parameters<ReturnType<typeof shardOf>["settlePayments"]>[0][number]["outcome"],
) {
  const shard = shardOf(accepted.orderId);
  const [task] = await shard.beginPayments([accepted.orderId]);
  expect(task).toBeDefined();
  await shard.settlePayments([
    { orderId: accepted.orderId, attempt: task?.attempt ?? 0, pinned: true, outcome },
  ]);
  return task;
}

describe("the last attempt withdraws at the gateway (sequence 3)", () => {
  it("leaves no live charge when a lapsed attempt's charge lands after retries ran out", async () => {
    const restoreQueue = silenceQueue();
    try {
      const sku = await stockedSku(3);
      const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok"));
      const accepted = await response.json<Accepted>();
      // Attempts 1-7 end unknown.
      for (let attempt = 1; attempt <= 7; attempt++) {
        await reportAttempt(accepted, { kind: "unknown", reason: "gateway timeout" });
      }
      // Attempt 8 goes out, is slow, and outlives its lease.
      const [eighth] = await shardOf(accepted.orderId).beginPayments([accepted.orderId]);
      expect(eighth).toMatchObject({ attempt: 8, mode: "charge" });
      await patchShardRow(accepted.orderId, "lease_until = 1, due_at = 1");
      // Attempt 9: retries are over, so the gateway is only asked; it has nothing, the order fails.
      await deliverPayments([accepted.orderId]);
      expect(await orderOf(accepted)).toMatchObject({ status: "payment_failed" });

      // Attempt 8's charge then reaches the gateway, and its report is lost.
      await chargeBehindTheQueue(accepted);
      await settleShards();
      const live = (await chargesFor(accepted.orderId)).filter((charge) => charge.status === "succeeded");
      expect(live).toEqual([]);
      expect((await orderOf(accepted)).status).toBe("payment_failed");
      expect(await stockOf(sku)).toMatchObject({ reserved: 0, committed: 0 });
    } finally {
      restoreQueue();
    }
  }, 60_000);
});

describe("the simulator keeps Stripe's promise of a withdrawn payment (sequence 4)", () => {
  it("refuses a charge that lands after the buyer cancelled and the gateway was asked", async () => {
    const restoreQueue = silenceQueue();
    try {
      const sku = await stockedSku(3);
      const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok"));
      const accepted = await response.json<Accepted>();
      // An attempt goes out and outlives its lease without a word.
      const [task] = await shardOf(accepted.orderId).beginPayments([accepted.orderId]);
      expect(task).toMatchObject({ attempt: 1 });
      await patchShardRow(accepted.orderId, "lease_until = 1, due_at = 1");
      // The buyer cancels; the shard asks the gateway, which has nothing yet.
      expect((await cancelOrder(accepted)).status).toBe(200);
      await settleShards();
      expect(await orderOf(accepted)).toMatchObject({ status: "cancelled" });

      // The slow attempt's charge lands now.
      const late = await chargeBehindTheQueue(accepted);
      expect(late.ok).toBe(false);
      await settleShards();
      const live = (await chargesFor(accepted.orderId)).filter((charge) => charge.status === "succeeded");
      expect(live).toEqual([]);
    } finally {
      restoreQueue();
    }
  }, 60_000);

  it("answers a charge under a withdrawn key as Stripe answers a confirm of a cancelled intent", async () => {
    const simulator = env.SIMULATOR.getByName("simulator");
    const key = `order-${unique("withdrawn")}`;
    expect(await simulator.abandon(key)).toBeNull();
    const charge = await simulator.charge({
      idempotencyKey: key,
      orderId: key,
      amount: 100,
      currency: "USD",
      token: "tok_ok",
    });
    expect(charge).toMatchObject({ ok: false, kind: "declined" });
    expect(await simulator.lookup(key)).toBeNull();
    expect(await simulator.charges(key)).toEqual([]);
  });
});
