import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cardAllowanceLines } from "../src/inventory/allowances";
import { SkuInventory } from "../src/inventory/inventory.do";
import { OrderShard } from "../src/orders/shard/order-shard.do";
import { GatewaySimulator } from "../src/payments/simulator.do";
import {
  type Accepted,
  type BuyerOrder,
  breakMethod,
  cancelOrder,
  chargesFor,
  checkoutBody,
  deliverPayments,
  limitedSku,
  orderOf,
  patchShardRow,
  paymentReaches,
  postCheckout,
  runShardAlarm,
  settleShards,
  shardOf,
  shardRow,
  silenceQueue,
  stockOf,
  unique,
} from "./helpers";

// The card is the customer's second key: the simulator names it in the token (`tok_ok.card_<id>`),
// and its fingerprint is counted by the payment consumer before anything is charged.

const anEmail = () => `${unique("buyer")}@example.com`;
const aCard = () => unique("card");

async function buy(sku: string, token: string, email = anEmail(), quantity = 1): Promise<Accepted> {
  const response = await postCheckout(checkoutBody([{ sku, quantity }], token, { customer: { email } }));
  expect(response.status).toBe(202);
  return response.json<Accepted>();
}

/** The order's holds as its shard keeps them now (checkout's, and the card's once recorded). */
async function holdsOf(orderId: string): Promise<{ sku: string; allowance?: string }[]> {
  const row = await shardRow(orderId);
  if (row?.holds) return JSON.parse(String(row.holds));
  return (JSON.parse(String(row?.accepted)) as { holds: { sku: string }[] }).holds;
}

/** The object keeping a card's allowance of a SKU limited to `max` per customer. */
async function cardAllowanceOf(sku: string, card: string, max = 1) {
  const fingerprint = await env.SIMULATOR.getByName("simulator").fingerprint(`tok_ok.card_${card}`);
  expect(fingerprint).toBeTruthy();
  const [line] = await cardAllowanceLines(
    [{ key: `sku:${sku}`, quantity: 1, limit: { scope: "sku", sku, max } }],
    fingerprint ?? "",
  );
  return env.INVENTORY.getByName(line?.sku ?? "");
}

/** The email allowance checkout held for the order (from the order as accepted). */
async function emailAllowanceOf(orderId: string) {
  const row = await shardRow(orderId);
  const accepted = JSON.parse(String(row?.accepted)) as { holds: { sku: string; allowance?: string }[] };
  const hold = accepted.holds.find((entry) => entry.allowance === "customer");
  return env.INVENTORY.getByName(hold?.sku ?? "");
}

async function withQueueSilenced(work: () => Promise<void>) {
  const restore = silenceQueue();
  try {
    await work();
  } finally {
    restore();
  }
}

describe("the card fingerprint as a second customer key", () => {
  it("pays one of two orders of different emails paying with one card, and fails the other without charging it", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku();
      const card = aCard();
      const first = await buy(sku, `tok_ok.card_${card}`);
      const second = await buy(sku, `tok_ok.card_${card}`);
      await deliverPayments([first.orderId]);
      await deliverPayments([second.orderId]);

      expect(await orderOf(first)).toMatchObject({ status: "paid" });
      const refused = await orderOf(second);
      expect(refused).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
      expect(refused.failureReason).toMatch(/^purchase_limit_exceeded: at most 1 of SKU .* per customer/);
      expect(await chargesFor(second.orderId)).toEqual([]);
      expect(await chargesFor(first.orderId)).toHaveLength(1);
      // Its unit is back in stock, and its email's allowance too; the card's is spent by the first.
      expect(await stockOf(sku)).toMatchObject({ onHand: 9, committed: 1, reserved: 0, available: 9 });
      expect(await (await emailAllowanceOf(second.orderId)).counts()).toMatchObject({
        reserved: 0,
        committed: 0,
      });
      expect(await (await cardAllowanceOf(sku, card)).counts()).toMatchObject({
        reserved: 0,
        committed: 1,
      });
      expect((await holdsOf(first.orderId)).some((hold) => hold.allowance === "card")).toBe(true);
      expect((await holdsOf(second.orderId)).some((hold) => hold.allowance === "card")).toBe(false);
    });
  }, 60_000);

  it("lets exactly one of several racing orders with one card through, across buckets and consumers", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku(20, 1, 4);
      const token = `tok_ok.card_${aCard()}`;
      const orders = await Promise.all(Array.from({ length: 5 }, () => buy(sku, token)));
      await Promise.all(orders.map((order) => deliverPayments([order.orderId])));
      const ended = await Promise.all(orders.map(orderOf));
      expect(ended.map((order) => order.status).sort()).toEqual([
        "paid",
        "payment_failed",
        "payment_failed",
        "payment_failed",
        "payment_failed",
      ]);
      for (const order of ended.filter((entry) => entry.status === "payment_failed")) {
        expect(order.failureReason).toMatch(/^purchase_limit_exceeded/);
      }
      const charges = await Promise.all(orders.map((order) => chargesFor(order.orderId)));
      expect(charges.flat()).toHaveLength(1);
      expect(await stockOf(sku)).toMatchObject({ onHand: 19, committed: 1, reserved: 0 });
    });
  }, 90_000);

  it("counts only the email where the gateway gives no fingerprint", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku();
      const orders = [await buy(sku, "tok_ok"), await buy(sku, "tok_ok")];
      for (const order of orders) await deliverPayments([order.orderId]);
      for (const order of orders) expect(await orderOf(order)).toMatchObject({ status: "paid" });
    });
  }, 60_000);

  it("gives the card's allowance back when its order is declined or cancelled, and keeps it while the buyer authenticates", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku();
      const card = aCard();
      const declined = await buy(sku, `tok_declined.card_${card}`);
      await deliverPayments([declined.orderId]);
      expect(await orderOf(declined)).toMatchObject({ status: "payment_failed" });
      expect((await orderOf(declined)).failureReason).toMatch(/declined/);
      expect(await (await cardAllowanceOf(sku, card)).counts()).toMatchObject({ reserved: 0, committed: 0 });

      // 3-D Secure: the card's allowance is held (pinned) while the buyer acts, so another order of
      // the card is refused, until this one is cancelled.
      const waiting = await buy(sku, `tok_3ds.card_${card}`);
      await deliverPayments([waiting.orderId]);
      expect(await orderOf(waiting)).toMatchObject({ payment: { status: "requires_action" } });
      const meanwhile = await buy(sku, `tok_ok.card_${card}`);
      await deliverPayments([meanwhile.orderId]);
      expect((await orderOf(meanwhile)).failureReason).toMatch(/^purchase_limit_exceeded/);
      expect(await (await cardAllowanceOf(sku, card)).snapshot()).toMatchObject({
        reserved: 1,
        holds: [{ orderId: waiting.orderId, pinned: true }],
      });
      expect((await cancelOrder(waiting)).status).toBe(200);
      await settleShards();

      const after = await buy(sku, `tok_ok.card_${card}`);
      await deliverPayments([after.orderId]);
      expect(await orderOf(after)).toMatchObject({ status: "paid" });
      expect(await (await cardAllowanceOf(sku, card)).counts()).toMatchObject({ reserved: 0, committed: 1 });
    });
  }, 60_000);

  it("takes one unit of the card's allowance however many attempts the payment takes", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku(10, 2);
      const card = aCard();
      const flaky = await buy(sku, `tok_flaky.card_${card}`);
      for (let i = 0; i < 3; i++) await deliverPayments([flaky.orderId]);
      expect(await orderOf(flaky)).toMatchObject({ status: "paid", payment: { attempts: 3 } });
      const allowance = await cardAllowanceOf(sku, card, 2);
      expect(await allowance.counts()).toMatchObject({ committed: 1, reserved: 0 });
      const second = await buy(sku, `tok_ok.card_${card}`);
      await deliverPayments([second.orderId]);
      expect(await orderOf(second)).toMatchObject({ status: "paid" });
      expect(await allowance.counts()).toMatchObject({ committed: 2, onHand: 0 });
    });
  }, 60_000);
});

describe("the card's allowance when something fails", () => {
  it("charges nothing while the card's fingerprint cannot be read, and pays once it can", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku();
      const accepted = await buy(sku, `tok_ok.card_${aCard()}`);
      const restore = breakMethod(GatewaySimulator.prototype, "fingerprint");
      try {
        await deliverPayments([accepted.orderId]);
      } finally {
        restore();
      }
      expect(await orderOf(accepted)).toMatchObject({
        status: "pending_payment",
        payment: { status: "pending", attempts: 0 },
      });
      expect(await chargesFor(accepted.orderId)).toEqual([]);
      await deliverPayments([accepted.orderId]);
      expect(await orderOf(accepted)).toMatchObject({ status: "paid", payment: { attempts: 1 } });
    });
  }, 60_000);

  it("charges nothing while the card's allowance cannot be reached, and pays once it can", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku();
      const card = aCard();
      const accepted = await buy(sku, `tok_ok.card_${card}`);
      // The email's allowance was held at checkout; from now on allowance objects stop answering.
      const restore = breakMethod(SkuInventory.prototype, "reserveWithin");
      try {
        await deliverPayments([accepted.orderId]);
      } finally {
        restore();
      }
      expect(await orderOf(accepted)).toMatchObject({ status: "pending_payment", payment: { attempts: 0 } });
      expect(await chargesFor(accepted.orderId)).toEqual([]);
      expect(await (await cardAllowanceOf(sku, card)).counts()).toBeNull();
      await deliverPayments([accepted.orderId]);
      expect(await orderOf(accepted)).toMatchObject({ status: "paid" });
    });
  }, 60_000);

  it("records the card's hold from the next attempt when the report of the one that took it was lost", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku();
      const card = aCard();
      const accepted = await buy(sku, `tok_ok.card_${card}`);
      // The attempt holds the card's allowance and charges; its report never reaches the shard.
      const restore = breakMethod(OrderShard.prototype, "settlePayments");
      try {
        const result = await deliverPayments([accepted.orderId]);
        expect(result.retryMessages).toHaveLength(1);
      } finally {
        restore();
      }
      const allowance = await cardAllowanceOf(sku, card);
      const held = await allowance.snapshot();
      expect(held).toMatchObject({ reserved: 1, holds: [{ orderId: accepted.orderId, pinned: false }] });
      expect(Date.parse(held?.holds[0]?.expiresAt ?? "")).toBeGreaterThan(Date.now());
      expect((await holdsOf(accepted.orderId)).some((hold) => hold.allowance === "card")).toBe(false);
      expect(await chargesFor(accepted.orderId)).toHaveLength(1);

      // The lease runs out; the next attempt finds the charge and the same hold, and records both.
      await patchShardRow(accepted.orderId, "lease_until = 1, due_at = 1");
      await deliverPayments([accepted.orderId]);
      expect(await orderOf(accepted)).toMatchObject({ status: "paid" });
      expect(await chargesFor(accepted.orderId)).toHaveLength(1);
      expect(await allowance.counts()).toMatchObject({ reserved: 0, committed: 1 });
      expect((await holdsOf(accepted.orderId)).some((hold) => hold.allowance === "card")).toBe(true);

      const other = await buy(sku, `tok_ok.card_${card}`);
      await deliverPayments([other.orderId]);
      expect((await orderOf(other)).failureReason).toMatch(/^purchase_limit_exceeded/);
    });
  }, 60_000);

  it("lets the card's hold expire by itself when its order ends before any attempt could record it", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku();
      const card = aCard();
      const accepted = await buy(sku, `tok_ok.card_${card}`);
      // The attempt holds the card's allowance, the gateway errors, and the report is lost.
      const restores = [
        breakMethod(GatewaySimulator.prototype, "chargeMany"),
        breakMethod(OrderShard.prototype, "settlePayments"),
      ];
      try {
        await deliverPayments([accepted.orderId]);
      } finally {
        for (const restore of restores) restore();
      }
      // The buyer cancels meanwhile: the order's recorded holds go back, the card's was never recorded.
      expect((await cancelOrder(accepted)).status).toBe(200);
      await settleShards();
      expect(await orderOf(accepted)).toMatchObject({ status: "cancelled" });
      expect(await chargesFor(accepted.orderId)).toEqual([]);
      const allowance = await cardAllowanceOf(sku, card);
      expect(await allowance.counts()).toMatchObject({ reserved: 1 });

      // Its time runs out, and the object's own alarm gives it back.
      await runInDurableObject(allowance, (_, state) => {
        state.storage.sql.exec("UPDATE reservations SET expires_at = 1 WHERE order_id = ?", accepted.orderId);
      });
      await runDurableObjectAlarm(allowance);
      expect(await allowance.counts()).toMatchObject({ reserved: 0, committed: 0 });
      const next = await buy(sku, `tok_ok.card_${card}`);
      await deliverPayments([next.orderId]);
      expect(await orderOf(next)).toMatchObject({ status: "paid" });
    });
  }, 60_000);
});

describe("the card's hold on an order that stays unpaid", () => {
  it("never undoes a paid order for a card hold that lapsed before a late report brought it", async () => {
    const sku = await limitedSku();
    const accepted = await buy(sku, "tok_ok");
    expect(await paymentReaches(accepted, "succeeded")).toMatchObject({ status: "paid" });
    const [charge] = await chargesFor(accepted.orderId);
    // A lost report of an earlier attempt arrives late, with a card hold that is no longer held.
    await shardOf(accepted.orderId).settlePayments([
      {
        orderId: accepted.orderId,
        attempt: 1,
        pinned: false,
        outcome: { kind: "charged", chargeId: charge?.id ?? "" },
        cardHolds: [
          {
            sku: `~card~${"0".repeat(40)}`,
            allowance: "card" as const,
            quantity: 1,
            expiresAt: new Date(Date.now() - 60_000).toISOString(),
            buckets: [{ bucket: 0, quantity: 1 }],
          },
        ],
      },
    ]);
    await settleShards();
    expect(await orderOf(accepted)).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
    expect((await chargesFor(accepted.orderId)).map((c) => c.status)).toEqual(["succeeded"]);
    expect(await stockOf(sku)).toMatchObject({ committed: 1, reserved: 0 });
  }, 60_000);

  it("is marked held when the shard cannot pin it on recording it, and pinned before it is committed", async () => {
    await withQueueSilenced(async () => {
      const sku = await limitedSku();
      const card = aCard();
      const accepted = await buy(sku, `tok_3ds.card_${card}`);
      const allowance = await cardAllowanceOf(sku, card);
      // Card allowance objects cannot pin (overloaded); every other object can.
      const pin = SkuInventory.prototype.pin;
      const restore = breakMethod(SkuInventory.prototype, "pin", function (this: SkuInventory, ...args) {
        const ctx = Reflect.get(this, "ctx") as DurableObjectState;
        if (ctx.id.name?.startsWith("~card~")) throw new Error("pin: Durable Object is overloaded");
        return pin.apply(this, args as Parameters<SkuInventory["pin"]>);
      });
      try {
        await deliverPayments([accepted.orderId]);
      } finally {
        restore();
      }
      // Recorded, not pinned: the order's holds are marked held, so its next charge or its commit pins them.
      expect(await orderOf(accepted)).toMatchObject({ payment: { status: "requires_action" } });
      expect((await shardRow(accepted.orderId))?.stock).toBe("held");
      expect(await allowance.snapshot()).toMatchObject({
        holds: [{ orderId: accepted.orderId, pinned: false }],
      });

      const simulator = env.SIMULATOR.getByName("simulator");
      const open = await simulator.lookup(`order-${accepted.orderId}`);
      expect(open?.kind).toBe("open");
      if (open?.kind === "open") await simulator.answerChallenge(open.payment.id, true);
      await deliverPayments([accepted.orderId]);
      await settleShards();
      expect(await orderOf(accepted)).toMatchObject({ status: "paid" });
      expect(await allowance.counts()).toMatchObject({ reserved: 0, committed: 1 });
    });
  }, 60_000);
});

describe("the simulator's named cards", () => {
  it("keeps every token's behaviour with a card named, and gives one fingerprint per card id", async () => {
    const simulator = env.SIMULATOR.getByName("simulator");
    const card = aCard();
    expect(await simulator.fingerprint("tok_ok")).toBeNull();
    expect(await simulator.fingerprint(`tok_ok.card_${card}`)).toBe(
      await simulator.fingerprint(`tok_declined.card_${card}`),
    );
    expect(await simulator.fingerprint(`tok_ok.card_${card}`)).not.toBe(
      await simulator.fingerprint(`tok_ok.card_${aCard()}`),
    );
    expect(await simulator.fingerprint(`tok_ok.card_${card}`)).not.toContain(card);
    await withQueueSilenced(async () => {
      const sku = await limitedSku(10, 5);
      const waiting = await buy(sku, `tok_3ds.card_${card}`);
      await deliverPayments([waiting.orderId]);
      const order: BuyerOrder = await paymentReaches(waiting, "requires_action");
      expect(order.payment.nextAction?.type).toBe("redirect_to_url");
    });
  }, 60_000);
});

describe("orders written before holds said their allowance kind", () => {
  it("reads a paid order that a late card hold had reopened as owing that hold alone, and commits it", async () => {
    const sku = await limitedSku();
    const card = aCard();
    const accepted = await buy(sku, `tok_ok.card_${card}`);
    expect(await paymentReaches(accepted, "succeeded")).toMatchObject({ status: "paid" });
    const cardObject = await cardAllowanceOf(sku, card);
    const name = (await cardObject.snapshot())?.sku ?? "";
    expect(name).toMatch(/^~card~/);
    // As the shard wrote it before this version: no allowance kinds, the card's hold appended to a
    // paid order whose stock it had reopened ("pinned"), to be committed by the alarm.
    const legacy = (await holdsOf(accepted.orderId)).map(({ allowance: _, ...hold }) => hold);
    await patchShardRow(
      accepted.orderId,
      "holds = ?, stock = 'pinned', late_holds = NULL, due_at = 1",
      JSON.stringify(legacy),
    );
    await runShardAlarm(accepted.orderId);
    const row = await shardRow(accepted.orderId);
    expect(row).toMatchObject({ status: "paid", stock: "committed", late_holds: null, due_at: null });
    const kinds = (await holdsOf(accepted.orderId)).map((hold) => hold.allowance);
    expect(kinds).toEqual(expect.arrayContaining(["customer", "card"]));
    expect(await cardObject.counts()).toMatchObject({ committed: 1, reserved: 0 });
    expect(await orderOf(accepted)).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
  }, 60_000);
});
