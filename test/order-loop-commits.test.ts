import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ShardStore } from "../src/orders/shard/orders.store";
import {
  type Accepted,
  breakMethod,
  cancelOrder,
  chargesFor,
  checkoutBody,
  deliverPayments,
  limitedSku,
  objectDown,
  orderOf,
  patchShardRow,
  postCheckout,
  settleShards,
  shardRow,
  silenceQueue,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

/**
 * A commit that reached an inventory object without its decision being written (an object that did
 * not answer, a shard that stopped between the two) is repeated harmlessly: a hold already committed
 * for the order counts as pinned, and a closed order's committed units go back to the shelf.
 */
/**
 * An order paid by `tok_ok` whose commit reached the inventory while the shard stopped before
 * writing it: the write of `paid` throws once, as a shard stopping there would leave it.
 */
async function paidButNotWritten() {
  const sku = await stockedSku(3);
  const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok"));
  const accepted = await response.json<Accepted>();
  const write = ShardStore.prototype.write;
  let stopped = false;
  const restoreWrite = breakMethod(
    ShardStore.prototype,
    "write",
    function (this: ShardStore, ...args: unknown[]) {
      const [, order] = args as Parameters<typeof write>;
      if (!stopped && order.id === accepted.orderId && order.status === "paid") {
        stopped = true;
        throw new Error("the shard stopped here");
      }
      return write.apply(this, args as Parameters<typeof write>);
    },
  );
  try {
    await deliverPayments([accepted.orderId]);
  } finally {
    restoreWrite();
  }
  expect(stopped).toBe(true);
  return { sku, accepted };
}

describe("a commit repeated after it partly or wholly landed (found by review)", () => {
  it("pays a card-limited order whose commit reached its allowances but not its SKU at first", async () => {
    const restoreQueue = silenceQueue();
    try {
      const sku = await limitedSku(5, 2);
      const card = unique("card").replace(/[^A-Za-z0-9_-]/g, "");
      const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], `tok_ok.card_${card}`));
      expect(response.status).toBe(202);
      const accepted = await response.json<Accepted>();
      // The SKU's object cannot be reached for the commit (overloaded); the allowance objects can.
      const restoreObject = objectDown(sku, ["settleMany"]);
      try {
        await deliverPayments([accepted.orderId]);
      } finally {
        restoreObject();
      }
      const mid = await shardRow(accepted.orderId);
      expect(mid).toMatchObject({ status: "pending_payment", payment_status: "succeeded", stock: "held" });
      // The object answers again: the shard's alarm makes the commit it owes.
      await patchShardRow(accepted.orderId, "due_at = 1");
      await settleShards();
      const order = await orderOf(accepted);
      const stock = await stockOf(sku);
      const charges = await chargesFor(accepted.orderId);
      const row = await shardRow(accepted.orderId);
      const holds = JSON.parse(String(row?.holds)) as { sku: string; allowance?: string }[];
      const allowances = await Promise.all(
        holds
          .filter((hold) => hold.allowance)
          .map(async (hold) => ({ ...hold, counts: await env.INVENTORY.getByName(hold.sku).counts() })),
      );
      // The charge succeeded and the units could be sold, so the order is paid, its units and the
      // customer's and the card's allowances sold once each.
      expect(order.status).toBe("paid");
      expect(stock).toMatchObject({ committed: 1, reserved: 0 });
      expect(charges.map((charge) => charge.status)).toEqual(["succeeded"]);
      expect(allowances.map((hold) => hold.allowance).sort()).toEqual(["card", "customer"]);
      for (const { counts } of allowances) expect(counts).toMatchObject({ committed: 1, reserved: 0 });
    } finally {
      restoreQueue();
    }
  }, 60_000);

  it("gives the units back when the shard stopped after committing and the buyer then cancelled", async () => {
    const restoreQueue = silenceQueue();
    try {
      const { sku, accepted } = await paidButNotWritten();
      expect(await stockOf(sku)).toMatchObject({ committed: 1 });
      expect((await orderOf(accepted)).status).toBe("pending_payment");

      // The buyer cancels while the attempt's lease still runs (the order looks unpaid).
      const cancelled = await cancelOrder(accepted);
      expect(cancelled.status).toBe(200);
      await patchShardRow(accepted.orderId, "lease_until = 1, due_at = 1");
      await settleShards();
      const order = await orderOf(accepted);
      const stock = await stockOf(sku);
      const charges = await chargesFor(accepted.orderId);
      // A cancelled order keeps no sold units, and its charge is found and refunded.
      expect(order).toMatchObject({ status: "cancelled", payment: { status: "refunded" } });
      expect(stock).toMatchObject({ onHand: 3, committed: 0, reserved: 0 });
      expect(charges.map((charge) => charge.status)).toEqual(["refunded"]);
      expect(await shardRow(accepted.orderId)).toMatchObject({ stock: "released", due_at: null });
    } finally {
      restoreQueue();
    }
  }, 60_000);

  it("pays the order when the shard stopped after committing and the next attempt finds the charge", async () => {
    const restoreQueue = silenceQueue();
    try {
      const { sku, accepted } = await paidButNotWritten();
      // The attempt's lease runs out; the next attempt asks the gateway, finds the charge, and the
      // commit is made again, harmlessly.
      await patchShardRow(accepted.orderId, "lease_until = 1, due_at = 1");
      await deliverPayments([accepted.orderId]);
      await settleShards();
      const order = await orderOf(accepted);
      const stock = await stockOf(sku);
      const charges = await chargesFor(accepted.orderId);
      expect(order.status).toBe("paid");
      expect(stock.committed).toBe(1);
      expect(charges.map((charge) => charge.status)).toEqual(["succeeded"]);
    } finally {
      restoreQueue();
    }
  }, 60_000);
});
