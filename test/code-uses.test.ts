import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { codeUsesName } from "../src/inventory/allowances";
import { SkuInventory } from "../src/inventory/inventory.do";
import { readCounts } from "../src/inventory/inventory.service";
import { adminOrder, refund, refundsSettle } from "./after-sale.helpers";
import {
  type Accepted,
  admin,
  breakMethod,
  checkoutBody,
  patchShardRow,
  postCheckout,
  runShardAlarm,
  settledOrder,
  settleShards,
  shardRow,
  stockedSku,
  unique,
} from "./helpers";

// A discount code's use given back when its order is refunded in full (or cancelled by the shop),
// where the code says so. A SKU costs 1999 here; every code takes 500 off, so an order pays 1499.

type Uses = { held: number; used: number; left: number | null };

const newCode = () =>
  unique("back")
    .replaceAll(/[^A-Za-z0-9-]/g, "")
    .slice(0, 40)
    .toUpperCase();

async function makeCode(rule: Record<string, unknown>) {
  const code = newCode();
  const created = await admin("POST", "/v1/admin/discounts", {
    code,
    kind: "fixed",
    value: { amount: 500, currency: "USD" },
    maxUses: 3,
    maxUsesPerCustomer: 1,
    ...rule,
  });
  expect(created.status).toBe(201);
  return code;
}

const usesOf = async (code: string) =>
  ((await (await admin("GET", `/v1/admin/discounts/${code}`)).json()) as { uses: Uses }).uses;

async function usesSettle(code: string, expected: Uses, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await settleShards();
    const uses = await usesOf(code);
    if (JSON.stringify(uses) === JSON.stringify(expected) || Date.now() > deadline) return uses;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** One customer paying with one card (so the code is counted by email and by card). */
function buyer() {
  const id = unique("c").replaceAll(/[^A-Za-z0-9-]/g, "");
  return { email: `${id}@example.com`, token: `tok_ok.card_${id.slice(-40)}` };
}

function buy(sku: string, code: string, who: { email: string; token: string }) {
  return postCheckout({
    ...checkoutBody([{ sku, quantity: 1 }], who.token, { discountCode: code }),
    customer: { email: who.email },
  });
}

async function paidWith(sku: string, code: string, who: { email: string; token: string }) {
  const response = await buy(sku, code, who);
  expect(response.status).toBe(202);
  const accepted = await response.json<Accepted>();
  expect(accepted.total.amount).toBe(1499);
  expect((await settledOrder(accepted.orderId, accepted.orderToken, 60_000)).status).toBe("paid");
  return accepted;
}

const usd = (amount: number) => ({ amount: { amount, currency: "USD" }, restock: false });

describe("a discount code's use after a refund", () => {
  it("comes back with a full refund when the code says so, and the same customer and card can use it again", async () => {
    const code = await makeCode({ returnUseOnRefund: true });
    const sku = await stockedSku(10);
    const who = buyer();
    const accepted = await paidWith(sku, code, who);
    expect(await usesSettle(code, { held: 0, used: 1, left: 2 })).toEqual({ held: 0, used: 1, left: 2 });
    // Past their allowance of one, the customer is refused before anything is held.
    expect((await buy(sku, code, who)).status).toBe(409);

    expect((await refund(accepted.orderId, { restock: false })).status).toBe(201);
    expect((await refundsSettle(accepted.orderId)).payment.status).toBe("refunded");
    expect(await usesSettle(code, { held: 0, used: 0, left: 3 })).toEqual({ held: 0, used: 0, left: 3 });
    expect((await shardRow(accepted.orderId))?.uses_returned).toBe(1);
    expect((await adminOrder(accepted.orderId)).timeline).toContainEqual(
      expect.objectContaining({ event: "code_use_returned", detail: code }),
    );
    // The customer's allowance and the card's came back with it: the same buyer pays with it again.
    await paidWith(sku, code, who);
    expect(await usesSettle(code, { held: 0, used: 1, left: 2 })).toEqual({ held: 0, used: 1, left: 2 });
  }, 120_000);

  it("stays used after a partial refund, and comes back once two refunds make up the charge", async () => {
    const code = await makeCode({ returnUseOnRefund: true });
    const sku = await stockedSku(10);
    const accepted = await paidWith(sku, code, buyer());
    expect((await refund(accepted.orderId, usd(1000))).status).toBe(201);
    await refundsSettle(accepted.orderId);
    await settleShards();
    expect(await usesOf(code)).toEqual({ held: 0, used: 1, left: 2 });
    expect((await shardRow(accepted.orderId))?.uses_returned).toBe(0);

    expect((await refund(accepted.orderId, usd(499))).status).toBe(201);
    expect((await refundsSettle(accepted.orderId)).payment.status).toBe("refunded");
    expect(await usesSettle(code, { held: 0, used: 0, left: 3 })).toEqual({ held: 0, used: 0, left: 3 });
  }, 120_000);

  it("comes back when the shop cancels the paid order", async () => {
    const code = await makeCode({ returnUseOnRefund: true });
    const sku = await stockedSku(10);
    const accepted = await paidWith(sku, code, buyer());
    expect((await admin("POST", `/v1/admin/orders/${accepted.orderId}/cancel`)).status).toBe(200);
    expect(await refundsSettle(accepted.orderId)).toMatchObject({ cancelledAt: expect.any(String) });
    expect(await usesSettle(code, { held: 0, used: 0, left: 3 })).toEqual({ held: 0, used: 0, left: 3 });
  }, 120_000);

  it("stays used for a code without the rule, and for an order accepted before the rule was set", async () => {
    const code = await makeCode({});
    const sku = await stockedSku(10);
    const who = buyer();
    const before = await paidWith(sku, code, who);
    // The rule set after the order was accepted does not reach it: the order keeps what checkout saw.
    const patched = await admin("PATCH", `/v1/admin/discounts/${code}`, { returnUseOnRefund: true });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ returnUseOnRefund: true });
    expect((await refund(before.orderId, { restock: false })).status).toBe(201);
    expect((await refundsSettle(before.orderId)).payment.status).toBe("refunded");
    await settleShards();
    expect(await usesOf(code)).toEqual({ held: 0, used: 1, left: 2 });
    expect((await buy(sku, code, who)).status).toBe(409);
  }, 120_000);

  it("is given back once when the allowance objects fail during the give-back, after taking it", async () => {
    const code = await makeCode({ returnUseOnRefund: true });
    const sku = await stockedSku(10);
    const who = buyer();
    const accepted = await paidWith(sku, code, who);
    // The objects counting uses take the return, then their answer is lost: the order cannot know.
    const restock = SkuInventory.prototype.restock;
    const restore = breakMethod(
      SkuInventory.prototype,
      "restock",
      function (this: SkuInventory, ...args: unknown[]) {
        const name = (Reflect.get(this, "ctx") as DurableObjectState).id.name ?? "";
        const answer = restock.apply(this, args as Parameters<typeof restock>);
        if (name.startsWith("~")) throw new Error("restock: answer lost");
        return answer;
      },
    );
    try {
      expect((await refund(accepted.orderId, { restock: false })).status).toBe(201);
      await refundsSettle(accepted.orderId);
      await settleShards(2);
      const row = await shardRow(accepted.orderId);
      expect(row?.uses_returned).toBe(0);
      expect(Number(row?.due_attempts)).toBeGreaterThanOrEqual(1);
    } finally {
      restore();
    }
    // The shard's alarm, its backoff moved to now, gives the use back, and only once.
    await patchShardRow(accepted.orderId, "due_at = 1");
    expect(await runShardAlarm(accepted.orderId)).toBe(true);
    expect(await usesOf(code)).toEqual({ held: 0, used: 0, left: 3 });
    expect((await shardRow(accepted.orderId))?.uses_returned).toBe(1);
    const counts = await readCounts(env, await codeUsesName(code));
    expect(counts).toMatchObject({ onHand: 3, committed: 0, reserved: 0 });
    expect((await adminOrder(accepted.orderId)).payment.status).toBe("refunded");
    // Once for the customer too: one more use, then refused again.
    await paidWith(sku, code, who);
    expect((await buy(sku, code, who)).status).toBe(409);
  }, 120_000);
});
