import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  type Accepted,
  admin,
  checkoutBody,
  postCheckout,
  settledOrder,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

// The gateway's minimum charge per currency (Stripe's: 50 cents in USD, 30 pence in GBP, 50 yen),
// refused at checkout before anything is held, and by the simulator as Stripe refuses it.

const priced = (amount: number, currency = "USD") => ({
  variants: [
    {
      sku: `${unique("min").toUpperCase()}-A`,
      title: "A",
      price: { amount, currency },
      attributes: {},
    },
  ],
});

type Problem = {
  code: string;
  minimum?: { amount: number; currency: string };
  discount?: { reason: string };
};

async function codeTaking(amount: number) {
  const code = unique("small")
    .replaceAll(/[^A-Za-z0-9-]/g, "")
    .slice(0, 40)
    .toUpperCase();
  const created = await admin("POST", "/v1/admin/discounts", {
    code,
    kind: "fixed",
    value: { amount, currency: "USD" },
    maxUses: 5,
  });
  expect(created.status).toBe(201);
  return code;
}

describe("the gateway's minimum charge", () => {
  it("refuses a cart whose total is below it, holding nothing", async () => {
    const sku = await stockedSku(5, undefined, priced(49));
    const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }]));
    expect(response.status).toBe(422);
    const problem = await response.json<Problem>();
    expect(problem).toMatchObject({ code: "amount_below_minimum", minimum: { amount: 50, currency: "USD" } });
    expect(await stockOf(sku)).toMatchObject({ available: 5, reserved: 0 });
    // Two of them make a charge the gateway takes.
    expect((await postCheckout(checkoutBody([{ sku, quantity: 2 }]))).status).toBe(202);
  });

  it("refuses a code that brings the cart below it, as the code's refusal, holding neither stock nor a use", async () => {
    const sku = await stockedSku(5);
    const code = await codeTaking(1950);
    const response = await postCheckout(
      checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
    );
    expect(response.status).toBe(422);
    const problem = await response.json<Problem>();
    expect(problem).toMatchObject({
      code: "discount_not_applicable",
      discount: { reason: "below_charge_minimum" },
      minimum: { amount: 50, currency: "USD" },
    });
    expect(await stockOf(sku)).toMatchObject({ available: 5, reserved: 0 });
    const uses = await (await admin("GET", `/v1/admin/discounts/${code}`)).json<{ uses: unknown }>();
    expect(uses.uses).toEqual({ held: 0, used: 0, left: 5 });
  });

  it("takes a cart at exactly the minimum, and charges it", async () => {
    const sku = await stockedSku(5);
    const code = await codeTaking(1949);
    const response = await postCheckout(
      checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
    );
    expect(response.status).toBe(202);
    const accepted = await response.json<Accepted>();
    expect(accepted.total.amount).toBe(50);
    expect((await settledOrder(accepted.orderId, accepted.orderToken, 60_000)).status).toBe("paid");
  });

  it("follows the currency: 30 pence in GBP", async () => {
    const below = await stockedSku(5, undefined, priced(29, "GBP"));
    const at = await stockedSku(5, undefined, priced(30, "GBP"));
    const refused = await postCheckout(checkoutBody([{ sku: below, quantity: 1 }]));
    expect(await refused.json<Problem>()).toMatchObject({ minimum: { amount: 30, currency: "GBP" } });
    expect((await postCheckout(checkoutBody([{ sku: at, quantity: 1 }]))).status).toBe(202);
  });

  it("is refused by the simulator as Stripe refuses it: declined, nothing charged", async () => {
    const simulator = env.SIMULATOR.getByName("simulator");
    const charge = (amount: number, currency: string) => {
      const key = `order-${unique("minimum")}`;
      return simulator
        .charge({ idempotencyKey: key, orderId: key, amount, currency, token: "tok_ok" })
        .then(async (answer) => ({ answer, charges: await simulator.charges(key) }));
    };
    for (const [amount, currency] of [
      [49, "USD"],
      [49, "JPY"],
      [29, "GBP"],
    ] as const) {
      const { answer, charges } = await charge(amount, currency);
      expect(answer).toEqual({ ok: false, kind: "declined", reason: "amount_too_small" });
      expect(charges).toEqual([]);
    }
    expect((await charge(50, "USD")).answer).toMatchObject({ ok: true });
    // A currency without a known minimum is charged as asked.
    expect((await charge(1, "XOF")).answer).toMatchObject({ ok: true });
  });
});
