import { describe, expect, it } from "vitest";
import {
  ADDRESS,
  type AdminOrder,
  adminOrder,
  fulfil,
  paidOrder,
  type Refund,
  refund,
  refundsSettle,
  simulator,
} from "./after-sale.helpers";
import {
  type Accepted,
  ADMIN,
  admin,
  call,
  chargesFor,
  checkoutBody,
  JSON_HEADERS,
  postCheckout,
  readOrder,
  settleShards,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

describe("the order, whole", () => {
  it("carries the name, the address, the money broken down and a timeline, to the buyer and the admin", async () => {
    const { accepted } = await paidOrder([{ quantity: 2 }, { quantity: 1 }]);
    const buyer = await (await readOrder(accepted.orderId, accepted.orderToken)).json<AdminOrder>();
    expect(buyer).toMatchObject({
      customer: { name: "Ada Lovelace" },
      shippingAddress: ADDRESS,
      fulfillmentStatus: "unfulfilled",
      fulfillments: [],
      refunds: [],
    });
    expect(buyer.totals.subtotal).toEqual(buyer.total);
    expect(buyer.totals.total).toEqual(buyer.total);
    expect(buyer.totals.discount?.amount).toBe(0);
    expect(buyer.timeline).toBeUndefined();

    const detail = await adminOrder(accepted.orderId);
    expect(detail.shippingAddress).toEqual(ADDRESS);
    expect(detail.timeline?.map((entry) => entry.event)).toEqual(
      expect.arrayContaining(["created", "payment_attempt", "paid"]),
    );

    // The D1 projection (the admin's list) shows the same order.
    await settleShards();
    const list = await (
      await admin("GET", `/v1/admin/orders?q=${encodeURIComponent(detail.customer.email)}`)
    ).json<{ items: AdminOrder[] }>();
    expect(list.items.map((order) => order.id)).toEqual([accepted.orderId]);
    expect(list.items[0]).toMatchObject({ shippingAddress: ADDRESS, fulfillmentStatus: "unfulfilled" });
  });

  it("answers 404 for an order id whose shard does not exist, without asking any", async () => {
    const response = await admin("GET", "/v1/admin/orders/01JD3Q8Z9N0Y4W6B7C2D5E8F1G-9999");
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "order_not_found" });
  });
});

describe("refunds through the order's shard", () => {
  it("refunds lines, puts their units back once, and replays the same key", async () => {
    const { skus, accepted } = await paidOrder([{ quantity: 3 }, { quantity: 1 }]);
    const [first] = skus as [string, string];
    expect(await stockOf(first)).toMatchObject({ onHand: 7, committed: 3 });
    const key = unique("refund");
    const body = { lines: [{ sku: first, quantity: 2 }], restock: true, reason: "damaged" };
    const response = await refund(accepted.orderId, body, key);
    expect(response.status).toBe(201);
    const made = await response.json<Refund>();
    const unit = accepted.items[0]?.unitPrice.amount ?? 0;
    expect(made).toMatchObject({
      amount: { amount: 2 * unit },
      lines: [{ sku: first, quantity: 2 }],
      restock: true,
    });

    const again = await refund(accepted.orderId, body, key);
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await again.json<Refund>()).id).toBe(made.id);
    const other = await refund(accepted.orderId, { ...body, lines: [{ sku: first, quantity: 1 }] }, key);
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ code: "idempotency_key_mismatch" });

    const order = await refundsSettle(accepted.orderId);
    expect(order.refunds).toEqual([
      expect.objectContaining({ id: made.id, status: "succeeded", restocked: true }),
    ]);
    expect(order.payment).toMatchObject({ status: "succeeded", refunded: { amount: 2 * unit } });
    expect(await stockOf(first)).toMatchObject({ onHand: 9, committed: 1 });
    const [charge] = await chargesFor(accepted.orderId);
    expect(charge).toMatchObject({ status: "succeeded", refunded: { amount: 2 * unit } });
    // Once more, by the alarm: nothing changes.
    await settleShards();
    expect(await stockOf(first)).toMatchObject({ onHand: 9, committed: 1 });
  });

  it("refuses what is not paid, and what exceeds what is left", async () => {
    const sku = await stockedSku(5);
    const pending = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_3ds"));
    const { orderId } = await pending.json<Accepted>();
    const unpaid = await refund(orderId, { restock: false });
    expect(unpaid.status).toBe(409);
    expect(await unpaid.json()).toMatchObject({ code: "order_not_refundable" });

    const { accepted } = await paidOrder([{ quantity: 1 }]);
    const tooMuch = await refund(accepted.orderId, {
      amount: { amount: accepted.total.amount + 1, currency: accepted.total.currency },
      restock: false,
    });
    expect(tooMuch.status).toBe(409);
    expect(await tooMuch.json()).toMatchObject({ code: "refund_exceeds_captured" });
    const wrongCurrency = await refund(accepted.orderId, {
      amount: { amount: 1, currency: "JPY" },
      restock: false,
    });
    expect(wrongCurrency.status).toBe(409);
    const missing = await call(`/v1/admin/orders/${accepted.orderId}/refunds`, {
      method: "POST",
      headers: { ...ADMIN, ...JSON_HEADERS },
      body: JSON.stringify({ restock: false }),
    });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ code: "idempotency_key_missing" });
  });

  it("lets only one of two racing partial refunds stand when together they exceed the charge", async () => {
    const { accepted } = await paidOrder([{ quantity: 2 }]);
    const part = {
      amount: { amount: Math.ceil(accepted.total.amount * 0.6), currency: accepted.total.currency },
      restock: false,
    };
    const answers = await Promise.all([refund(accepted.orderId, part), refund(accepted.orderId, part)]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409]);
    const order = await refundsSettle(accepted.orderId);
    expect(order.refunds.filter((made) => made.status === "succeeded")).toHaveLength(1);
    const [charge] = await chargesFor(accepted.orderId);
    expect(charge).toMatchObject({ refunded: { amount: part.amount.amount } });
  });

  it("keeps asking a gateway that is down until it answers, and refunds once even when an answer is lost", async () => {
    for (const mode of ["before", "after"] as const) {
      const { accepted } = await paidOrder([{ quantity: 1 }]);
      await simulator().breakRefunds(3, mode);
      try {
        const response = await refund(accepted.orderId, { restock: false });
        expect(response.status).toBe(201);
        expect(await response.json()).toMatchObject({ status: "pending" });
        const order = await refundsSettle(accepted.orderId, 30_000);
        expect(order.refunds).toEqual([expect.objectContaining({ status: "succeeded" })]);
        expect(order.payment.status).toBe("refunded");
        const [charge] = await chargesFor(accepted.orderId);
        expect(charge).toMatchObject({ status: "refunded", refunded: { amount: accepted.total.amount } });
      } finally {
        await simulator().breakRefunds(0, mode);
      }
    }
  });

  it("cancels a paid order that has not shipped: refunded in full, every unit back; not once it shipped", async () => {
    const { skus, accepted } = await paidOrder([{ quantity: 2 }]);
    const cancelled = await admin("POST", `/v1/admin/orders/${accepted.orderId}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ status: "paid", cancelledAt: expect.any(String) });
    const order = await refundsSettle(accepted.orderId);
    expect(order.payment.status).toBe("refunded");
    expect(order.refunds).toEqual([expect.objectContaining({ restocked: true, status: "succeeded" })]);
    expect(await stockOf(skus[0] as string)).toMatchObject({ onHand: 10, committed: 0 });
    // Cancelling again answers the same; shipping a cancelled order is refused.
    expect((await admin("POST", `/v1/admin/orders/${accepted.orderId}/cancel`)).status).toBe(200);
    const ship = await fulfil(accepted.orderId, { carrier: "UPS", trackingNumber: "1Z1" });
    expect(ship.status).toBe(409);

    const { accepted: shipped } = await paidOrder([{ quantity: 1 }]);
    expect((await fulfil(shipped.orderId, { carrier: "UPS", trackingNumber: "1Z2" })).status).toBe(201);
    const late = await admin("POST", `/v1/admin/orders/${shipped.orderId}/cancel`);
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ code: "order_not_cancellable" });
  });
});

describe("fulfilment", () => {
  it("ships lines part by part, never a refunded line, and a repeated tracking number is the same fulfilment", async () => {
    const { skus, accepted } = await paidOrder([{ quantity: 2 }, { quantity: 1 }]);
    const [a, b] = skus as [string, string];
    const first = await fulfil(accepted.orderId, {
      lines: [{ sku: a, quantity: 1 }],
      carrier: "DHL",
      trackingNumber: "JD001",
      trackingUrl: "https://track.example/JD001",
    });
    expect(first.status).toBe(201);
    expect((await adminOrder(accepted.orderId)).fulfillmentStatus).toBe("partially_fulfilled");
    const repeat = await fulfil(accepted.orderId, {
      lines: [{ sku: a, quantity: 1 }],
      carrier: "DHL",
      trackingNumber: "JD001",
    });
    expect(repeat.status).toBe(201);
    expect(repeat.headers.get("Idempotent-Replayed")).toBe("true");

    expect((await refund(accepted.orderId, { lines: [{ sku: b, quantity: 1 }], restock: true })).status).toBe(
      201,
    );
    const refunded = await fulfil(accepted.orderId, {
      lines: [{ sku: b, quantity: 1 }],
      carrier: "DHL",
      trackingNumber: "JD002",
    });
    expect(refunded.status).toBe(409);
    expect(await refunded.json()).toMatchObject({ code: "order_not_fulfillable" });
    const tooMany = await fulfil(accepted.orderId, {
      lines: [{ sku: a, quantity: 2 }],
      carrier: "DHL",
      trackingNumber: "JD003",
    });
    expect(tooMany.status).toBe(409);

    const rest = await fulfil(accepted.orderId, { carrier: "DHL", trackingNumber: "JD004" });
    expect(rest.status).toBe(201);
    expect(await rest.json()).toMatchObject({ lines: [{ sku: a, quantity: 1 }] });
    const order = await adminOrder(accepted.orderId);
    expect(order.fulfillmentStatus).toBe("fulfilled");
    expect(order.fulfillments).toHaveLength(2);
  });

  it("refuses an order that is not paid", async () => {
    const sku = await stockedSku(3);
    const { orderId } = await (
      await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_declined"))
    ).json<Accepted>();
    await settleShards();
    const response = await fulfil(orderId, { carrier: "UPS", trackingNumber: "1Z9" });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ code: "order_not_fulfillable" });
  });
});

describe("the shipping address at checkout", () => {
  it("is required for a cart that ships where the shop says so, and never for one that does not", async () => {
    const shipped = await stockedSku(5);
    const ticket = await stockedSku(5, undefined, { requiresShipping: false });
    const strict = { REQUIRE_SHIPPING_ADDRESS: "true" } as Partial<Env>;
    const without = await postCheckout(
      checkoutBody([{ sku: shipped, quantity: 1 }]),
      unique("key"),
      {},
      strict,
    );
    expect(without.status).toBe(400);
    expect(await without.json()).toMatchObject({
      code: "validation_failed",
      errors: [expect.objectContaining({ path: "shippingAddress" })],
    });
    const withAddress = await postCheckout(
      { ...checkoutBody([{ sku: shipped, quantity: 1 }]), shippingAddress: ADDRESS },
      unique("key"),
      {},
      strict,
    );
    expect(withAddress.status).toBe(202);
    const ticketOnly = await postCheckout(
      checkoutBody([{ sku: ticket, quantity: 1 }]),
      unique("key"),
      {},
      strict,
    );
    expect(ticketOnly.status).toBe(202);
    // By default the API takes an order without one, as it always has.
    expect((await postCheckout(checkoutBody([{ sku: shipped, quantity: 1 }]))).status).toBe(202);
  });
});
