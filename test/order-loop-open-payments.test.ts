import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SkuInventory } from "../src/inventory/inventory.do";
import { GatewaySimulator } from "../src/payments/simulator.do";
import {
  type Accepted,
  breakMethod,
  chargesFor,
  checkoutBody,
  deliverPayments,
  limitedSku,
  orderOf,
  postCheckout,
  settleShards,
  shardRow,
  silenceQueue,
  unique,
} from "./helpers";

/**
 * The paying card's hold a report adds is pinned by the report's pin step; if that call fails, the
 * payment's next look (a follow, for a payment still open) pins it, and comes before the hold could
 * run out. (HOLD_TTL_SECONDS is set to its minimum, 10 s, for the consumer, to stand for a payment
 * that processes longer than the hold time, as a bank debit does.)
 */
describe("a card hold left unpinned while a payment processes (found by review)", () => {
  it("is pinned by the next look at the payment, so the charge that succeeds pays the order", async () => {
    const restoreQueue = silenceQueue();
    try {
      const sku = await limitedSku(5, 1);
      const card = unique("card").replace(/[^A-Za-z0-9_-]/g, "");
      const response = await postCheckout(
        checkoutBody([{ sku, quantity: 1 }], `tok_processing.card_${card}`),
      );
      expect(response.status).toBe(202);
      const accepted = await response.json<Accepted>();

      // The card allowance object does not answer the shard's pin step (one failed call).
      const pin = SkuInventory.prototype.pin;
      const restorePin = breakMethod(SkuInventory.prototype, "pin", function (this: SkuInventory, ...args) {
        const name = (this as unknown as { ctx: DurableObjectState }).ctx.id.name ?? "";
        if (name.startsWith("~card~")) throw new Error("pin: Durable Object is overloaded");
        return pin.apply(this, args as Parameters<typeof pin>);
      });
      try {
        await deliverPayments([accepted.orderId], "stampede-payments", { HOLD_TTL_SECONDS: "10" });
      } finally {
        restorePin();
      }
      const mid = await shardRow(accepted.orderId);
      expect(mid).toMatchObject({ status: "pending_payment", payment_status: "processing", stock: "held" });
      // The next look at the payment comes before the card's hold could run out.
      const holds = JSON.parse(String(mid?.holds)) as { allowance?: string; expiresAt: string }[];
      const cardEnds = Date.parse(holds.find((hold) => hold.allowance === "card")?.expiresAt ?? "");
      expect(Number(mid?.due_at)).toBeLessThan(cardEnds);

      // The payment processes for longer than the hold time (the simulator's settling is held back
      // for 11 s); the shard's next look, meanwhile, pins the card's hold.
      const settleAlarm = GatewaySimulator.prototype.alarm;
      const restoreSettle = breakMethod(GatewaySimulator.prototype, "alarm", async () => {});
      try {
        await new Promise((resolve) => setTimeout(resolve, 5000));
        await deliverPayments([accepted.orderId]);
        expect(await shardRow(accepted.orderId)).toMatchObject({
          payment_status: "processing",
          stock: "pinned",
        });
        await new Promise((resolve) => setTimeout(resolve, 6500));
      } finally {
        restoreSettle();
      }
      // The payment succeeds now (and the simulator says so); the next attempt follows it.
      await runInDurableObject(env.SIMULATOR.getByName("simulator"), async (instance: GatewaySimulator) => {
        await settleAlarm.call(instance);
      });
      await deliverPayments([accepted.orderId]);
      await settleShards();
      const order = await orderOf(accepted);
      const charges = await chargesFor(accepted.orderId);
      // The charge succeeded while the order held its units: it ends paid, charged once.
      expect(order.status).toBe("paid");
      expect(charges.map((charge) => charge.status)).toEqual(["succeeded"]);
    } finally {
      restoreQueue();
    }
  }, 60_000);
});
