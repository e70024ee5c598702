import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DrawBook } from "../../src/draws/draw-book.do";
import { DRAW_SHARDS, drawBook, shardOfEntry } from "../../src/draws/draws";
import { orderShard } from "../../src/orders/shards";
import { type AdminOrder, adminOrder, refund, refundsSettle } from "../after-sale.helpers";
import {
  ADMIN,
  admin,
  call,
  checkoutBody,
  createProduct,
  JSON_HEADERS,
  postCheckout,
  settledOrder,
  unique,
} from "../helpers";

/**
 * A draw's entry is priced as a checkout of its unit to its address: shipping and tax are authorized
 * with the price, kept with the entry, and what a winner is charged and recorded with, whatever the
 * settings say by the draw.
 */
const ground = (amount: number) => ({
  id: "ground",
  name: "Ground",
  currency: "USD",
  rate: { kind: "flat", amount },
});
const usShop = (shipping = 800) => ({
  taxMode: "exclusive",
  taxRates: [{ country: "US", region: "CA", rate: 7.25 }],
  zones: [
    {
      id: "us",
      name: "United States",
      countries: [{ country: "US" }],
      taxShipping: true,
      methods: [ground(shipping)],
    },
  ],
});
const CALIFORNIA = {
  name: "Ada Lovelace",
  line1: "1 Market St",
  city: "San Francisco",
  region: "CA",
  postalCode: "94105",
  country: "US",
};
const PARIS = { line1: "1 Rue de Rivoli", city: "Paris", postalCode: "75001", country: "FR" };

type Money = { amount: number; currency: string };
type Totals = Record<"subtotal" | "discount" | "shipping" | "tax" | "total", Money>;
type EntryView = {
  entryId: string;
  state: string;
  amount: Money;
  totals: Totals & { taxIncluded?: boolean };
  shippingMethod?: { id: string; name: string };
  order?: { orderId: string; orderToken: string };
};
type Entered = { entry: EntryView; entryToken: string };
type Problem = { code: string; status: number; errors?: { path: string }[] };

async function useSettings(body: unknown) {
  const response = await call("/v1/admin/pricing", {
    method: "PUT",
    headers: { ...ADMIN, ...JSON_HEADERS },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
}

type Draw = { id: string; sku: string };

async function drawProduct(closesInMs: number): Promise<Draw> {
  const product = await createProduct();
  const sku = product.variants[0]?.sku ?? "";
  expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 5 })).status).toBe(200);
  const setup = await admin("POST", `/v1/admin/products/${product.id}/draw`, {
    opensAt: new Date(Date.now() - 60_000).toISOString(),
    closesAt: new Date(Date.now() + closesInMs).toISOString(),
    units: { [sku]: 2 },
  });
  expect(setup.status).toBe(201);
  return { id: product.id, sku };
}

function enter(draw: Draw, body: Record<string, unknown>, key = unique("k")) {
  return call(`/v1/drops/${draw.id}/draw/entries`, {
    method: "POST",
    headers: { ...JSON_HEADERS, "Idempotency-Key": key },
    body: JSON.stringify({
      sku: draw.sku,
      paymentToken: "tok_ok",
      email: `${unique("buyer")}@example.com`,
      ...body,
    }),
  });
}

const readEntry = async (draw: Draw, token: string) =>
  (
    await call(`/v1/drops/${draw.id}/draw/entry`, { headers: { Authorization: `Bearer ${token}` } })
  ).json<EntryView>();

/** The totals POST /v1/quotes gives one unit of `sku` shipped to California by ground. */
async function quotedTotals(sku: string): Promise<Totals> {
  const response = await call("/v1/quotes", {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({
      items: [{ sku, quantity: 1 }],
      shipTo: { country: "US", region: "CA" },
      shipping: { method: "ground" },
    }),
  });
  expect(response.status).toBe(200);
  const { taxIncluded: _included, ...totals } = (
    await response.json<{ totals: Totals & { taxIncluded: boolean } }>()
  ).totals;
  return totals;
}

/** Waits for the draw to be drawn, then for the winner's entry to show its paid order. */
async function wonOrder(draw: Draw, entered: Entered) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const view = await readEntry(draw, entered.entryToken);
    if (view.order) {
      const order = await settledOrder(view.order.orderId, view.order.orderToken);
      expect(order).toMatchObject({ status: "paid" });
      return { view, orderId: view.order.orderId };
    }
    if (Date.now() > deadline) throw new Error(`the entry never won: ${JSON.stringify(view)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const simulator = () => env.SIMULATOR.getByName("simulator");

async function holdsOf(entryId: string) {
  return (await simulator().authorizations()).filter((one) => one.ownerId === entryId);
}

/** The simulator's charges of an order (a draw's capture is charged to the order the unit went to). */
async function chargesOf(orderId: string) {
  const response = await admin("GET", `/v1/admin/simulator/charges?orderId=${orderId}`);
  return (await response.json<{ charges: { amount: Money; status: string }[] }>()).charges;
}

async function bookCounts(product: string) {
  let rows = 0;
  for (let shard = 0; shard < DRAW_SHARDS; shard++) {
    const { counts } = await drawBook(env, product, shard).counts();
    rows += Object.values(counts).reduce((sum, n) => sum + n, 0);
  }
  return rows;
}

describe("a draw's entry, priced as checkout prices", () => {
  it("authorizes price, shipping and tax as quoted, charges the winner that, and refunds a line with its tax", async () => {
    await useSettings(usShop());
    const draw = await drawProduct(3_000);
    const quoted = await quotedTotals(draw.sku);
    // 1999, ground 800, 7.25 % on both: 145 + 58.
    expect(quoted.total).toEqual({ amount: 3_002, currency: "USD" });

    const response = await enter(draw, { shippingAddress: CALIFORNIA, shipping: { method: "ground" } });
    expect(response.status).toBe(201);
    const entered = await response.json<Entered>();
    expect(entered.entry.amount).toEqual(quoted.total);
    expect(entered.entry.totals).toMatchObject(quoted);
    expect(entered.entry.shippingMethod).toEqual({ id: "ground", name: "Ground" });
    const [held] = await holdsOf(entered.entry.entryId);
    expect(held?.amount).toEqual(quoted.total);

    const { orderId } = await wonOrder(draw, entered);
    const order = await adminOrder(orderId);
    expect(order.total).toEqual(quoted.total);
    expect(order.totals).toMatchObject(quoted);
    expect(order).toMatchObject({ shippingMethod: { id: "ground" }, shippingAddress: CALIFORNIA });
    expect((await chargesOf(orderId)).map((charge) => charge.amount)).toEqual([quoted.total]);
    // The D1 copy lists it with the same totals.
    const listed = await (await admin("GET", "/v1/admin/orders?status=paid&limit=100")).json<{
      items: AdminOrder[];
    }>();
    expect(listed.items.find((one) => one.id === orderId)?.totals).toMatchObject(quoted);

    // A refund of the line gives back its price with its tax; shipping stays charged.
    const refunded = await refund(orderId, { lines: [{ sku: draw.sku, quantity: 1 }], restock: false });
    expect(refunded.status).toBe(201);
    expect((await refunded.json<{ amount: Money }>()).amount).toEqual({ amount: 2_144, currency: "USD" });
    const after = await refundsSettle(orderId);
    expect(after.refunds.map((made) => made.status)).toEqual(["succeeded"]);
  }, 90_000);

  it("refuses an address the shop does not ship to as checkout does, entering and holding nothing", async () => {
    await useSettings(usShop());
    const draw = await drawProduct(3_600_000);
    const before = (await simulator().authorizations()).length;
    const checkout = await postCheckout(
      checkoutBody([{ sku: draw.sku, quantity: 1 }], "tok_ok", {
        shippingAddress: PARIS,
        shipping: { method: "ground" },
      }),
    );
    const refusal = await checkout.json<Problem>();
    const entry = await enter(draw, { shippingAddress: PARIS, shipping: { method: "ground" } });
    expect(entry.status).toBe(checkout.status);
    expect(await entry.json<Problem>()).toMatchObject({ code: refusal.code, status: 422 });
    expect(refusal.code).toBe("shipping_unavailable");

    // No method chosen where one must be: checkout's 400, on the same field.
    const unchosen = await enter(draw, { shippingAddress: CALIFORNIA });
    expect(unchosen.status).toBe(400);
    expect(await unchosen.json<Problem>()).toMatchObject({
      code: "validation_failed",
      errors: [{ path: "shipping.method" }],
    });
    expect(await bookCounts(draw.id)).toBe(0);
    expect((await simulator().authorizations()).length).toBe(before);
  });

  it("charges a winner what they entered at, though the shipping rate changed before the draw", async () => {
    await useSettings(usShop());
    const draw = await drawProduct(3_000);
    const quoted = await quotedTotals(draw.sku);
    const key = unique("k");
    const body = { shippingAddress: CALIFORNIA, shipping: { method: "ground" } };
    const email = `${unique("buyer")}@example.com`;
    const entered = await (await enter(draw, { ...body, email }, key)).json<Entered>();
    expect(entered.entry.amount).toEqual(quoted.total);

    await useSettings(usShop(1_500));
    expect((await quotedTotals(draw.sku)).total.amount).toBeGreaterThan(quoted.total.amount);
    // The same request again is answered as it entered, at its own price.
    const again = await enter(draw, { ...body, email }, key);
    expect(again.status).toBe(200);
    expect((await again.json<Entered>()).entry.amount).toEqual(quoted.total);

    const { orderId } = await wonOrder(draw, entered);
    const order = await adminOrder(orderId);
    expect(order.total).toEqual(quoted.total);
    expect(order.totals).toMatchObject(quoted);
    expect((await chargesOf(orderId)).map((charge) => charge.amount)).toEqual([quoted.total]);
  }, 90_000);

  it("draws an entry kept before entries were priced at its unit price, with no tax or shipping", async () => {
    // A shop that charges no shipping or tax: the entry authorizes the unit price, as entries did.
    await useSettings({ taxMode: "exclusive", taxRates: [], zones: [] });
    const draw = await drawProduct(3_000);
    const entered = await (await enter(draw, { shippingAddress: CALIFORNIA })).json<Entered>();
    expect(entered.entry.amount).toEqual({ amount: 1_999, currency: "USD" });
    // Its row as a book kept it before entries were priced: no pricing.
    const stub = drawBook(env, draw.id, shardOfEntry(entered.entry.entryId) ?? 0);
    await runInDurableObject(stub, (_book: DrawBook, state) => {
      state.storage.sql.exec("UPDATE entries SET pricing = NULL WHERE entry_id = ?", entered.entry.entryId);
    });
    const old = await readEntry(draw, entered.entryToken);
    expect(old.totals).toMatchObject({
      subtotal: { amount: 1_999 },
      shipping: { amount: 0 },
      tax: { amount: 0 },
      total: { amount: 1_999 },
    });
    expect(old.shippingMethod).toBeUndefined();

    const { orderId } = await wonOrder(draw, entered);
    const order = await adminOrder(orderId);
    expect(order.total).toEqual({ amount: 1_999, currency: "USD" });
    expect(order.totals).toMatchObject({
      subtotal: { amount: 1_999 },
      shipping: { amount: 0 },
      tax: { amount: 0 },
    });
    expect((await chargesOf(orderId)).map((charge) => charge.amount.amount)).toEqual([1_999]);
  }, 90_000);

  it("passes on, uncharged, a winner whose kept pricing contradicts its amount, and finishes the draw", async () => {
    await useSettings(usShop());
    const draw = await drawProduct(3_000);
    const body = { shippingAddress: CALIFORNIA, shipping: { method: "ground" } };
    const bad = await (await enter(draw, body)).json<Entered>();
    const good = await (await enter(draw, body)).json<Entered>();
    // A row whose pricing no longer adds up to what it authorized (damaged, or written by other code).
    const stub = drawBook(env, draw.id, shardOfEntry(bad.entry.entryId) ?? 0);
    await runInDurableObject(stub, (_book: DrawBook, state) => {
      state.storage.sql.exec(
        "UPDATE entries SET pricing = json_set(pricing, '$.shipping', 0) WHERE entry_id = ?",
        bad.entry.entryId,
      );
    });
    // The other entrant still wins (two units, two entrants), and the draw ends.
    await wonOrder(draw, good);
    const deadline = Date.now() + 60_000;
    let view = await readEntry(draw, bad.entryToken);
    while (view.state !== "lost" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      view = await readEntry(draw, bad.entryToken);
    }
    expect(view).toMatchObject({ state: "lost" });
    expect(view.order).toBeUndefined();
    const record = await (await call(`/v1/drops/${draw.id}/draw/proof`)).json<{
      state: string;
      passedOn: string[];
    }>();
    expect(record.state).toBe("drawn");
    expect(record.passedOn).toContain(bad.entry.entryId);
    // Never charged: its hold is released, not captured.
    await expect
      .poll(async () => (await holdsOf(bad.entry.entryId)).map((hold) => hold.status), { timeout: 30_000 })
      .toEqual(["cancelled"]);
  }, 120_000);

  it("refuses to record a drawn order whose capture is not its total, or whose total is not its pricing's", async () => {
    const usd = (amount: number) => ({ amount, currency: "USD" });
    const pricing = {
      subtotal: 1_999,
      discount: 0,
      shipping: 800,
      tax: 203,
      taxMode: "exclusive" as const,
      lines: [{ sku: "SKU-A", discount: 0, tax: 145, charged: 2_144 }],
    };
    const drawn = (total: number, captured: number) => ({
      order: {
        id: `${unique("drawn")}-0`,
        keyHash: "a".repeat(64),
        tokenHash: "b".repeat(64),
        items: [{ sku: "SKU-A", productId: "p", title: "A", quantity: 1 as const, unitPrice: usd(1_999) }],
        total: usd(total),
        pricing,
        customer: { email: "ada@example.com" },
        paymentToken: "tok_ok",
        holds: [
          {
            sku: "SKU-A",
            quantity: 1,
            expiresAt: new Date(Date.now() + 60_000).toISOString(),
            buckets: [{ bucket: 0, quantity: 1 }],
          },
        ],
        holdExpiresAt: new Date(Date.now() + 60_000).toISOString(),
        createdAt: new Date().toISOString(),
      },
      chargeId: "ch_1",
      captured: usd(captured),
      intentId: null,
      orderToken: "token",
    });
    const refusal = async (input: ReturnType<typeof drawn>) => {
      try {
        await orderShard(env, 0).recordDrawn(input);
        return null;
      } catch (error) {
        return String(error);
      }
    };
    expect(await refusal(drawn(3_002, 1_999))).toMatch(/amount captured/);
    expect(await refusal(drawn(2_999, 2_999))).toMatch(/its pricing's/);
  });
});
