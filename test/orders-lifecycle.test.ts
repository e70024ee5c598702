import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { SkuInventory } from "../src/inventory/inventory.do";
import { reconcile } from "../src/orders/reconcile";
import { GatewaySimulator } from "../src/payments/simulator.do";
import { EdgeMemo } from "../src/shared/edge-memo";
import {
  type Accepted,
  admin,
  breakMethod,
  cancelOrder,
  chargeBehindTheQueue,
  chargesFor,
  checkoutBody,
  claimOf,
  createProduct,
  deliverPayments,
  patchShardRow,
  postCheckout,
  readOrder,
  settledOrder,
  settleShards,
  shardOf,
  shardOfTestKey,
  shardRow,
  silenceQueue,
  stallFirstReserve,
  stockOf,
  takeD1Down,
  unique,
} from "./helpers";

type OrderBody = {
  status: string;
  failureReason?: string;
  payment: { status: string; attempts: number };
};

async function orderOf(accepted: Accepted): Promise<OrderBody> {
  return (await readOrder(accepted.orderId, accepted.orderToken)).json<OrderBody>();
}

/** A stocked SKU with its product, for tests that also archive the product. */
async function stockedProduct(onHand: number) {
  const product = await createProduct();
  const sku = product.variants[0]?.sku ?? "";
  expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand })).status).toBe(200);
  return { product, sku };
}

async function place(sku: string, quantity: number, token: string, key = unique("key")) {
  const response = await postCheckout(checkoutBody([{ sku, quantity }], token), key);
  expect(response.status).toBe(202);
  return { key, accepted: await response.json<Accepted>() };
}

/** Moves a hold's expiry into the past and runs its object's alarm, as the passing of time would. */
async function letHoldsExpire(sku: string, orderId: string) {
  const stub = env.INVENTORY.getByName(sku);
  await runInDurableObject(stub, (_, state) => {
    state.storage.sql.exec("UPDATE reservations SET expires_at = 1 WHERE order_id = ?", orderId);
  });
  await runDurableObjectAlarm(stub);
}

describe("a charge whose answer was lost (issue: oversell through the reconciler)", () => {
  it("keeps the held units past their expiry until the gateway answers, then commits them", async () => {
    const restoreQueue = silenceQueue();
    try {
      const { sku } = await stockedProduct(2);
      const { accepted } = await place(sku, 2, "tok_timeout_after_charge");
      // Attempt 1 charges; its answer is lost (a timeout): the outcome is unknown.
      await deliverPayments([accepted.orderId]);
      expect(await orderOf(accepted)).toMatchObject({ status: "pending_payment", payment: { attempts: 1 } });
      expect(await chargesFor(accepted.orderId)).toHaveLength(1);

      // Long past the hold's time, with the gateway unreachable for lookups: the units stay held.
      const restoreLookups = breakMethod(GatewaySimulator.prototype, "lookup");
      try {
        await letHoldsExpire(sku, accepted.orderId);
        expect(await stockOf(sku)).toMatchObject({ reserved: 2, available: 0 });
        const other = await postCheckout(checkoutBody([{ sku, quantity: 1 }]));
        expect(other.status).toBe(409);
        await deliverPayments([accepted.orderId]);
        expect((await orderOf(accepted)).status).toBe("pending_payment");
      } finally {
        restoreLookups();
      }

      // The gateway answers: the charge is found, the units are sold to this order alone.
      await deliverPayments([accepted.orderId]);
      expect(await orderOf(accepted)).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
      expect(await stockOf(sku)).toMatchObject({ onHand: 0, reserved: 0, committed: 2 });
      expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    } finally {
      restoreQueue();
    }
  });

  it("refunds a charge whose stock is no longer held, and fails the order saying why", async () => {
    const restoreQueue = silenceQueue();
    try {
      const { sku } = await stockedProduct(2);
      const { accepted } = await place(sku, 2, "tok_timeout_after_charge");
      await deliverPayments([accepted.orderId]);
      // A fault gives the units back behind the order's back, and another buyer takes them.
      await env.INVENTORY.getByName(sku).release(accepted.orderId);
      const other = await place(sku, 2, "tok_down");
      // The retry finds the charge; its stock cannot be committed, so the money goes back.
      await deliverPayments([accepted.orderId]);
      await settleShards();
      const order = await orderOf(accepted);
      expect(order).toMatchObject({ status: "payment_failed", payment: { status: "refunded" } });
      expect(order.failureReason).toMatch(/refunded/);
      expect((await chargesFor(accepted.orderId)).map((c) => c.status)).toEqual(["refunded"]);
      expect(await stockOf(sku)).toMatchObject({ onHand: 2, reserved: 2, committed: 0 });
      expect((await orderOf(other.accepted)).status).toBe("pending_payment");
    } finally {
      restoreQueue();
    }
  });
});

describe("a placed order's retry (issue: told sold out)", () => {
  /** Places an order, then checks its retry (same key, body, client) gets the same 202 back. */
  async function placed(onHand: number) {
    const { product, sku } = await stockedProduct(onHand);
    const key = unique("placed");
    const ip = `10.77.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_ok");
    const first = await postCheckout(body, key, { "CF-Connecting-IP": ip });
    expect(first.status).toBe(202);
    const firstBody = await first.text();
    return {
      product,
      sku,
      ip,
      async replayed() {
        const retry = await postCheckout(body, key, { "CF-Connecting-IP": ip });
        expect(retry.status).toBe(202);
        expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
        expect(await retry.text()).toBe(firstBody);
      },
    };
  }

  it("gets its 202 back after the SKU sold out, also where the edge refuses sold-out SKUs", async () => {
    const restoreQueue = silenceQueue();
    try {
      const order = await placed(1);
      // Another buyer is refused, so this location now knows the SKU is sold out.
      expect((await postCheckout(checkoutBody([{ sku: order.sku, quantity: 1 }]))).status).toBe(409);
      await order.replayed();
    } finally {
      restoreQueue();
    }
  });

  it("gets its 202 back after its product was archived", async () => {
    const restoreQueue = silenceQueue();
    try {
      const order = await placed(5);
      expect((await admin("DELETE", `/v1/admin/products/${order.product.id}`)).status).toBe(204);
      await order.replayed();
    } finally {
      restoreQueue();
    }
  });

  it("gets its 202 back while its client is rate limited", async () => {
    const restoreQueue = silenceQueue();
    try {
      const order = await placed(5);
      let limited = false;
      for (let i = 0; i < 400 && !limited; i++) {
        const other = await postCheckout(checkoutBody([{ sku: "NO-SUCH", quantity: 1 }]), unique("rl"), {
          "CF-Connecting-IP": order.ip,
        });
        limited = other.status === 429;
      }
      expect(limited).toBe(true);
      await order.replayed();
    } finally {
      restoreQueue();
    }
  });
});

describe("a claim taken over (issue: a key taken over twice)", () => {
  it("leaves the new owner's holds and claim alone when the stalled request fails afterwards", async () => {
    const restoreQueue = silenceQueue();
    const { sku } = await stockedProduct(5);
    const key = unique("stalled");
    const body = checkoutBody([{ sku, quantity: 2 }], "tok_ok");
    const { stalled, fail, restore } = stallFirstReserve();
    try {
      const a = postCheckout(body, key);
      await stalled;
      // Thirty seconds on, the first request still has not come back; its retry takes over.
      const { keyHash, stub } = await shardOfTestKey(key);
      await runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec("UPDATE keys SET locked_until = 0 WHERE key_hash = ?", keyHash);
      });
      const b = await postCheckout(body, key);
      expect(b.status).toBe(202);
      const accepted = await b.clone().json<Accepted>();
      fail();
      expect((await a).status).toBe(503);

      expect(await stockOf(sku)).toMatchObject({ reserved: 2, available: 3 });
      expect(await claimOf(key)).toMatchObject({ state: "done", order_id: accepted.orderId });
      const again = await postCheckout(body, key);
      expect(again.headers.get("Idempotent-Replayed")).toBe("true");
      expect(await again.json()).toMatchObject({ orderId: accepted.orderId });
      await reconcile(env);
      expect(await stockOf(sku)).toMatchObject({ reserved: 2 });
    } finally {
      restore();
      restoreQueue();
    }
  });
});

describe("a succeeded charge on a closed order (issue: a charge left unrefunded)", () => {
  it("is found and refunded when the attempt that made it never reported", async () => {
    const restoreQueue = silenceQueue();
    try {
      const { sku } = await stockedProduct(3);
      const { accepted } = await place(sku, 1, "tok_ok");
      // The consumer takes the attempt and charges, then dies before reporting.
      const [task] = await shardOf(accepted.orderId).beginPayments([accepted.orderId]);
      expect(task).toMatchObject({ attempt: 1, mode: "charge" });
      await chargeBehindTheQueue(accepted);
      expect((await cancelOrder(accepted)).status).toBe(200);
      expect(await stockOf(sku)).toMatchObject({ reserved: 0, available: 3 });

      // The attempt's lease runs out: the shard asks the gateway and gives the money back.
      await patchShardRow(accepted.orderId, "lease_until = 1, due_at = 1");
      await settleShards();
      expect(await orderOf(accepted)).toMatchObject({ status: "cancelled", payment: { status: "refunded" } });
      expect((await chargesFor(accepted.orderId)).map((c) => c.status)).toEqual(["refunded"]);
    } finally {
      restoreQueue();
    }
  });
});

describe("after an unknown outcome", () => {
  it("decides nothing on a 'no charge' that was not preceded by asking the gateway", async () => {
    const restoreQueue = silenceQueue();
    try {
      const { sku } = await stockedProduct(3);
      const { accepted } = await place(sku, 1, "tok_ok");
      const shard = shardOf(accepted.orderId);
      const report = async (outcome: Parameters<typeof shard.settlePayments>[0][number]["outcome"]) => {
        const [task] = await shard.beginPayments([accepted.orderId]);
        await shard.settlePayments([
          { orderId: accepted.orderId, attempt: task?.attempt ?? 0, pinned: true, outcome },
        ]);
        return task;
      };
      await report({ kind: "unknown", reason: "timeout" });
      const second = await report({ kind: "declined", reason: "card_declined", lookedUp: false });
      expect(second?.mustLookup).toBe(true);
      expect((await orderOf(accepted)).status).toBe("pending_payment");
      await report({ kind: "declined", reason: "card_declined", lookedUp: true });
      expect(await orderOf(accepted)).toMatchObject({
        status: "payment_failed",
        payment: { status: "failed" },
      });
    } finally {
      restoreQueue();
    }
  });
});

describe("work that keeps failing (issue: reconciler starvation)", () => {
  it("backs off per order, so it never starves the rest, and the report says what failed", async () => {
    const restoreQueue = silenceQueue();
    const restoreRefunds = breakMethod(GatewaySimulator.prototype, "refund");
    try {
      const { sku } = await stockedProduct(10);
      // Two cancelled orders whose charges landed late: each owes a refund that keeps failing.
      const poison: Accepted[] = [];
      for (let i = 0; i < 2; i++) {
        const { accepted } = await place(sku, 1, "tok_ok");
        const shard = shardOf(accepted.orderId);
        const [task] = await shard.beginPayments([accepted.orderId]);
        await cancelOrder(accepted);
        await shard.settlePayments([
          {
            orderId: accepted.orderId,
            attempt: task?.attempt ?? 1,
            pinned: false,
            outcome: { kind: "charged", chargeId: `ch_late_${i}` },
          },
        ]);
        poison.push(accepted);
      }
      // And one healthy order whose payment message was lost.
      const { accepted: healthy } = await place(sku, 1, "tok_ok");
      await patchShardRow(healthy.orderId, "due_at = 1");
      for (const order of poison) await patchShardRow(order.orderId, "due_at = 1");

      const first = await reconcile(env);
      expect(first.failed).toBeGreaterThanOrEqual(2);
      expect(first.resent).toBeGreaterThanOrEqual(1);
      for (const order of poison) {
        expect(Number((await shardRow(order.orderId))?.due_at)).toBeGreaterThan(Date.now());
      }
      // Straight after, the failing refunds are not due again: nothing is retried early.
      const second = await reconcile(env);
      expect(second.failed).toBe(0);
      expect(second.stillOwed).toBeGreaterThanOrEqual(2);

      restoreRefunds();
      for (const order of poison) await patchShardRow(order.orderId, "due_at = 1");
      const third = await settleShards();
      expect(third.failed).toBe(0);
      for (const order of poison) {
        expect(await orderOf(order)).toMatchObject({ status: "cancelled", payment: { status: "refunded" } });
      }
    } finally {
      restoreRefunds();
      restoreQueue();
    }
  });
});

/** What a checkout request leaves when it dies after holding: its key's claim, locked and lapsed. */
async function leaveStoppedClaim(
  key: string,
  orderId: string,
  lines: { sku: string; quantity: number; buckets: number }[],
) {
  const { keyHash, stub } = await shardOfTestKey(key);
  await runInDurableObject(stub, (_, state) => {
    state.storage.sql.exec(
      `INSERT INTO keys (key_hash, fingerprint, state, order_id, locked_until, lines, created_at, expires_at)
       VALUES (?, ?, 'in_flight', ?, 1, ?, 1, ?)`,
      keyHash,
      "0".repeat(64),
      orderId,
      JSON.stringify(lines),
      Date.now() + 3600_000,
    );
  });
}

describe("abandoned attempts and expired keys", () => {
  it("gives back the holds of a checkout that stopped between holding and recording", async () => {
    const { sku } = await stockedProduct(4);
    const key = unique("crashed");
    const orderId = `${unique("ATTEMPT")}`;
    // What a request leaves when it dies after holding: a locked claim and holds under its order id.
    await env.INVENTORY.getByName(sku).reserve({ orderId, quantity: 3, expiresAtMs: Date.now() + 600_000 });
    await leaveStoppedClaim(key, orderId, [{ sku, quantity: 3, buckets: 1 }]);
    expect(await stockOf(sku)).toMatchObject({ reserved: 3 });
    const report = await reconcile(env);
    expect(report.released).toBeGreaterThanOrEqual(1);
    expect(await stockOf(sku)).toMatchObject({ reserved: 0, available: 4 });
    expect(await claimOf(key)).toBeNull();
  });

  it("gives back a stopped walk's holds in every bucket it walked, though the bucket count changed since", async () => {
    const product = await createProduct();
    const sku = product.variants[0]?.sku ?? "";
    await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 8, buckets: 4 });
    const key = unique("walked-under-four");
    const orderId = unique("ATTEMPT");
    // A walk under four buckets held in buckets 2 and 3, then its request died.
    for (const bucket of [2, 3]) {
      await env.INVENTORY.getByName(`${sku}#${bucket}`).reserve({
        orderId,
        quantity: 2,
        expiresAtMs: Date.now() + 600_000,
        partial: true,
      });
    }
    await leaveStoppedClaim(key, orderId, [{ sku, quantity: 4, buckets: 4 }]);
    // Meanwhile the SKU shrinks to two buckets: checkout no longer walks buckets 2 and 3.
    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 8, buckets: 2 })).status).toBe(200);
    expect(await stockOf(sku)).toMatchObject({ reserved: 4, available: 4 });

    expect((await reconcile(env)).released).toBeGreaterThanOrEqual(1);
    await vi.waitFor(
      async () => {
        const detail = await (await admin("GET", `/v1/admin/inventory/${sku}`)).json<{
          reserved: number;
          available: number;
          conservation: { inTransit: number; stranded: number; balanced: boolean };
        }>();
        expect(detail).toMatchObject({ reserved: 0, available: 8 });
        expect(detail.conservation).toMatchObject({ inTransit: 0, stranded: 0, balanced: true });
      },
      { timeout: 15_000, interval: 100 },
    );
    const all = await postCheckout(checkoutBody([{ sku, quantity: 8 }]), unique("all-of-it"));
    expect(all.status).toBe(202);
  }, 30_000);

  it("drops keys past their retention, after which the key makes a new order", async () => {
    const restoreQueue = silenceQueue();
    try {
      const { sku } = await stockedProduct(4);
      const { key, accepted } = await place(sku, 1, "tok_ok");
      const { keyHash, stub } = await shardOfTestKey(key);
      await runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec("UPDATE keys SET expires_at = 1 WHERE key_hash = ?", keyHash);
      });
      expect((await reconcile(env)).expiredKeys).toBeGreaterThanOrEqual(1);
      expect(await claimOf(key)).toBeNull();
      const again = await place(sku, 1, "tok_ok", key);
      expect(again.accepted.orderId).not.toBe(accepted.orderId);
    } finally {
      restoreQueue();
    }
  });
});

describe("while D1 is down", () => {
  it("prices a SKU from KV, which learns each SKU's product the first time D1 names it", async () => {
    const { sku } = await stockedProduct(5);
    const forget = () => new EdgeMemo("sku-product", "https://shop.example").delete(sku);
    // As for a SKU published before KV named products: only D1 knows it.
    await env.CATALOG.delete(`sku-product:${sku}`);
    await forget();
    expect((await place(sku, 1, "tok_down")).accepted.orderId).toBeTruthy();
    expect(await env.CATALOG.get(`sku-product:${sku}`, "json")).toBeTruthy();
    await forget();
    const restoreD1 = takeD1Down();
    try {
      await place(sku, 1, "tok_down");
    } finally {
      restoreD1();
    }
  });

  it("keeps accepting and paying orders, and D1 catches up afterwards with nothing missing", async () => {
    const { sku } = await stockedProduct(20);
    const restoreD1 = takeD1Down();
    const placedOrders: Accepted[] = [];
    try {
      for (let i = 0; i < 5; i++) placedOrders.push((await place(sku, 1, "tok_ok")).accepted);
      for (const accepted of placedOrders) {
        expect((await settledOrder(accepted.orderId, accepted.orderToken)).status).toBe("paid");
      }
      const listed = await admin("GET", "/v1/admin/orders?limit=5");
      expect(listed.status).toBe(503);
      expect(listed.headers.get("Retry-After")).toBeTruthy();
      expect((await reconcile(env)).projected).toBe(0);
    } finally {
      restoreD1();
    }
    expect(await stockOf(sku)).toMatchObject({ onHand: 15, committed: 5, reserved: 0 });
    await settleShards();
    const page = await (await admin("GET", "/v1/admin/orders?status=paid&limit=100")).json<{
      items: { id: string; status: string }[];
    }>();
    const listed = new Set(page.items.map((order) => order.id));
    for (const accepted of placedOrders) expect(listed.has(accepted.orderId)).toBe(true);
  }, 30_000);
});

describe("a bucket walk that fails part-way", () => {
  it("gives back what every bucket held for the attempt, and the key, when one bucket throws", async () => {
    const product = await createProduct();
    const sku = product.variants[0]?.sku ?? "";
    await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 6, buckets: 3 });
    const reserve = SkuInventory.prototype.reserve;
    // Bucket 2 is overloaded; the others answer.
    const restore = breakMethod(SkuInventory.prototype, "reserve", function (this: SkuInventory, ...args) {
      if (this.ctx.id.name === `${sku}#2`) throw new Error("Durable Object is overloaded");
      return reserve.apply(this, args as Parameters<typeof reserve>);
    });
    const key = unique("walk");
    try {
      const response = await postCheckout(checkoutBody([{ sku, quantity: 6 }]), key);
      expect(response.status).toBe(503);
      expect(response.headers.get("Retry-After")).toBeTruthy();
    } finally {
      restore();
    }
    expect(await stockOf(sku)).toMatchObject({ onHand: 6, reserved: 0, available: 6 });
    expect(await claimOf(key)).toBeNull();
    expect((await postCheckout(checkoutBody([{ sku, quantity: 6 }], "tok_down"), key)).status).toBe(202);
  });
});
