import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { chargeKey } from "../../src/payments/gateway";
import { StripeGateway } from "../../src/payments/stripe.gateway";
import {
  admin,
  type BuyerOrder,
  call,
  deliverPayments,
  orderOf,
  patchShardRow,
  paymentReaches,
  placeOrder,
  runShardAlarm,
  settledOrder,
  settleShards,
  shardOf,
  shardRow,
  silenceQueue,
  stockOf,
  unique,
} from "../helpers";
import { fake, webhook } from "./stripe.helpers";

// The worker in this project pays through Stripe: the official SDK, pointed at the local fake of
// Stripe's HTTP API (test/fakes/stripe-api.mjs). Webhooks are signed exactly as Stripe signs them.

type Intent = {
  id: string;
  object: "payment_intent";
  status: string;
  client_secret: string;
  metadata: Record<string, string>;
  latest_charge: { id: string; amount: number; amount_refunded: number; currency: string } | null;
};

const place = (token: string, quantity = 1) => placeOrder(token, quantity, 5);

type OrderBody = BuyerOrder;

async function intentOf(orderId: string): Promise<Intent> {
  const row = await shardRow(orderId);
  return fake<Intent>(`/payment_intents/${row?.intent_id}`);
}

describe("Stripe: PaymentIntents through the official SDK", () => {
  it("a card that pays: one PaymentIntent carrying the order's id, paid", async () => {
    const { sku, accepted } = await place("pm_card_visa", 2);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded", attempts: 1 } });
    const intent = await intentOf(accepted.orderId);
    expect(intent).toMatchObject({ status: "succeeded", metadata: { order_id: accepted.orderId } });
    expect(await stockOf(sku)).toMatchObject({ onHand: 3, committed: 2 });
  }, 60_000);

  it("a declined card fails the order and gives the units back", async () => {
    const { sku, accepted } = await place("pm_card_chargeDeclined");
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
    expect(await stockOf(sku)).toMatchObject({ onHand: 5, reserved: 0 });
  }, 60_000);

  it("3-D Secure passed: requires_action with the client secret for its buyer only, then paid by the webhook", async () => {
    const { sku, accepted } = await place("pm_card_threeDSecure2Required");
    const waiting = await paymentReaches(accepted, "requires_action");
    const intent = await intentOf(accepted.orderId);
    expect(waiting.payment.nextAction).toEqual({
      type: "use_stripe_sdk",
      clientSecret: intent.client_secret,
    });
    expect(await stockOf(sku)).toMatchObject({ reserved: 1 });
    await settleShards();
    const listed = await (await admin("GET", "/v1/admin/orders?limit=100")).text();
    expect(listed).toContain(accepted.orderId);
    expect(listed).not.toContain(intent.client_secret);

    // The buyer completes the challenge with Stripe.js; Stripe says so by its webhook.
    const passed = await fake<Intent>(`/payment_intents/${intent.id}/authenticate`, { result: "pass" });
    expect(await webhook("payment_intent.succeeded", passed)).toMatchObject({ orderId: accepted.orderId });
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded", attempts: 1 } });
    expect(await stockOf(sku)).toMatchObject({ onHand: 4, committed: 1 });
  }, 60_000);

  it("3-D Secure failed: the webhook fails the order and the units go back", async () => {
    const { sku, accepted } = await place("pm_card_threeDSecure2Required");
    await paymentReaches(accepted, "requires_action");
    const intent = await intentOf(accepted.orderId);
    const failed = await fake<Intent>(`/payment_intents/${intent.id}/authenticate`, { result: "fail" });
    await webhook("payment_intent.payment_failed", failed);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
    expect(await stockOf(sku)).toMatchObject({ onHand: 5, reserved: 0 });
    // Withdrawn, so its client secret cannot confirm it with another card after the order failed.
    expect(await intentOf(accepted.orderId)).toMatchObject({ status: "canceled" });
  }, 60_000);

  it("the buyer's time runs out: the PaymentIntent is cancelled at Stripe before the order fails", async () => {
    const { sku, accepted } = await place("pm_card_threeDSecure2Required");
    await paymentReaches(accepted, "requires_action");
    const past = Date.now() - 1000;
    await patchShardRow(accepted.orderId, "action_until = ?, due_at = ?", past, past);
    await runShardAlarm(accepted.orderId);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order.status).toBe("payment_failed");
    expect(await intentOf(accepted.orderId)).toMatchObject({ status: "canceled" });
    expect(await stockOf(sku)).toMatchObject({ onHand: 5, reserved: 0 });
  }, 60_000);

  it("processing, then succeeded: the webhook after the queue's own answer pays the order", async () => {
    const restore = silenceQueue();
    try {
      const { accepted } = await place("pm_card_processing");
      await deliverPayments([accepted.orderId]);
      expect(await orderOf(accepted)).toMatchObject({ payment: { status: "processing", attempts: 1 } });
      // Not looked at again for a while, unless Stripe says something changed.
      expect((await shardRow(accepted.orderId))?.due_at).toBeGreaterThan(Date.now() + 20_000);
      const intent = await intentOf(accepted.orderId);
      const settled = await fake<Intent>(`/payment_intents/${intent.id}/settle`, {});
      await webhook("payment_intent.succeeded", settled);
      expect((await shardRow(accepted.orderId))?.due_at).toBeLessThanOrEqual(Date.now());
      await deliverPayments([accepted.orderId]);
      await settleShards();
      expect(await orderOf(accepted)).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
    } finally {
      restore();
    }
  }, 60_000);

  it("processing, with the webhook before the queue's answer: the answer brings the look at once", async () => {
    const restore = silenceQueue();
    try {
      const { accepted } = await place("pm_card_processing");
      const shard = shardOf(accepted.orderId);
      // The consumer's attempt is out (its lease held) when Stripe's event arrives.
      const [task] = await shard.beginPayments([accepted.orderId]);
      expect(task).toBeDefined();
      const event = await webhook("payment_intent.processing", {
        id: "pi_early",
        object: "payment_intent",
        metadata: { order_id: accepted.orderId },
      });
      expect(event).toMatchObject({ orderId: accepted.orderId, duplicate: false });
      // The attempt's answer: processing. Since the event came while it was out, it is due now.
      await shard.settlePayments([
        {
          orderId: accepted.orderId,
          attempt: task?.attempt ?? 1,
          pinned: true,
          outcome: { kind: "processing" },
        },
      ]);
      const row = await shardRow(accepted.orderId);
      expect(row).toMatchObject({ payment_status: "processing" });
      expect(row?.due_at).toBeLessThanOrEqual(Date.now());
    } finally {
      restore();
    }
  }, 60_000);

  it("duplicate and reordered events: a late failure after success leaves the order paid", async () => {
    const { accepted } = await place("pm_card_visa");
    await settledOrder(accepted.orderId, accepted.orderToken);
    const intent = await intentOf(accepted.orderId);
    const id = unique("evt");
    expect(await webhook("payment_intent.succeeded", intent, id)).toMatchObject({ duplicate: false });
    expect(await webhook("payment_intent.succeeded", intent, id)).toMatchObject({ duplicate: true });
    await webhook("payment_intent.payment_failed", { ...intent, status: "requires_payment_method" });
    await settleShards();
    expect(await orderOf(accepted)).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
  }, 60_000);

  it("a storm of 429s: charges wait and go through, no attempt is counted and nothing is charged twice", async () => {
    await fake("/throttle", { count: 8 });
    const placed = await Promise.all([1, 2, 3].map(() => place("pm_card_visa")));
    for (const { accepted } of placed) {
      const order = await settledOrder(accepted.orderId, accepted.orderToken, 40_000);
      expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded", attempts: 1 } });
      expect((await intentOf(accepted.orderId)).status).toBe("succeeded");
    }
    const stats = await fake<{ throttled: number }>("/stats");
    expect(stats.throttled).toBeGreaterThanOrEqual(8);
  }, 90_000);

  it("a refund made in Stripe's dashboard reaches the order by charge.refunded", async () => {
    const { accepted } = await place("pm_card_visa", 2);
    await settledOrder(accepted.orderId, accepted.orderToken);
    const intent = await intentOf(accepted.orderId);
    const half = Math.floor(accepted.total.amount / 2);
    const partly = await fake<Intent>(`/payment_intents/${intent.id}/refund`, { amount: half });
    // The worker reads the order from the charge's PaymentIntent at Stripe.
    expect(await webhook("charge.refunded", partly.latest_charge)).toMatchObject({
      orderId: accepted.orderId,
    });
    expect(await orderOf(accepted)).toMatchObject({
      status: "paid",
      payment: { status: "succeeded", refunded: { amount: half } },
    });
    const fully = await fake<Intent>(`/payment_intents/${intent.id}/refund`, {});
    await webhook("charge.refunded", fully.latest_charge);
    await webhook("charge.refunded", partly.latest_charge);
    expect(await orderOf(accepted)).toMatchObject({
      status: "paid",
      payment: { status: "refunded", refunded: { amount: accepted.total.amount } },
    });
  }, 60_000);

  it("the shop refunds through Stripe's Refunds API: once per refund, and never beyond what is left", async () => {
    const { accepted } = await place("pm_card_visa", 3);
    await settledOrder(accepted.orderId, accepted.orderToken);
    const unit = accepted.items[0]?.unitPrice.amount ?? 0;
    const sku = accepted.items[0]?.sku ?? "";
    const refund = (body: unknown, key: string) =>
      call(`/v1/admin/orders/${accepted.orderId}/refunds`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${env.ADMIN_TOKEN}`,
          "Content-Type": "application/json",
          "Idempotency-Key": key,
        },
        body: JSON.stringify(body),
      });
    const before = await fake<{ refunds: number }>("/stats");
    const key = unique("refund");
    const made = await refund({ lines: [{ sku, quantity: 1 }], restock: true }, key);
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({ status: "succeeded", amount: { amount: unit } });
    expect((await refund({ lines: [{ sku, quantity: 1 }], restock: true }, key)).status).toBe(201);
    expect((await fake<{ refunds: number }>("/stats")).refunds).toBe(before.refunds + 1);
    expect((await intentOf(accepted.orderId)).latest_charge).toMatchObject({ amount_refunded: unit });

    // A refund from the dashboard meanwhile: what the shop then asks beyond what is left, Stripe refuses.
    const intent = await intentOf(accepted.orderId);
    await fake<Intent>(`/payment_intents/${intent.id}/refund`, { amount: unit });
    const rest = await refund({ restock: false }, unique("refund"));
    expect(rest.status).toBe(201);
    expect(await rest.json()).toMatchObject({ status: "failed" });
    await settleShards();
    const order = await orderOf(accepted);
    expect(order).toMatchObject({
      status: "paid",
      payment: { status: "succeeded", refunded: { amount: unit } },
    });
    // The order learns the dashboard's refund by its webhook, and a refund of what is left then goes.
    await webhook("charge.refunded", (await intentOf(accepted.orderId)).latest_charge);
    const last = await refund({ restock: false }, unique("refund"));
    expect(await last.json()).toMatchObject({
      status: "succeeded",
      amount: { amount: accepted.total.amount - 2 * unit },
    });
    expect((await intentOf(accepted.orderId)).latest_charge).toMatchObject({
      amount_refunded: accepted.total.amount,
    });
    expect((await orderOf(accepted)).payment).toMatchObject({ status: "refunded" });
  }, 60_000);

  it("a dispute is recorded on the order and shown to the operator", async () => {
    const { accepted } = await place("pm_card_visa");
    await settledOrder(accepted.orderId, accepted.orderToken);
    const intent = await intentOf(accepted.orderId);
    const dispute = {
      id: unique("dp"),
      object: "dispute",
      amount: accepted.total.amount,
      currency: "usd",
      charge: intent.latest_charge?.id,
      payment_intent: intent.id,
      reason: "fraudulent",
      status: "needs_response",
    };
    await webhook("charge.dispute.created", dispute);
    await settleShards();
    const page = await (await admin("GET", "/v1/admin/orders?limit=100")).json<{
      items: { id: string; payment: OrderBody["payment"] }[];
    }>();
    expect(page.items.find((item) => item.id === accepted.orderId)?.payment).toMatchObject({
      status: "succeeded",
      dispute: { status: "needs_response", reason: "fraudulent" },
    });
  }, 60_000);
});

describe("Stripe: a payment withdrawn once retries are over", () => {
  it("creates the order's PaymentIntent if no attempt got that far and cancels it, so a late confirm fails", async () => {
    const gateway = StripeGateway.fromEnv(env);
    const orderId = unique("withdrawn");
    const ref = {
      orderId,
      idempotencyKey: chargeKey(orderId),
      amount: { amount: 1500, currency: "USD" },
      token: "pm_card_visa",
      intentId: null,
    };
    // The last attempt only withdraws: nothing was charged under the key, and now nothing can be.
    const found = await gateway.abandon(ref);
    expect(found).toMatchObject({ status: "none" });
    // A slow attempt's charge arrives afterwards, under the same key: refused, nothing charged.
    const late = await gateway.charge(ref);
    expect(late).toMatchObject({ status: "declined", reason: "payment_intent_unexpected_state" });
    expect(await gateway.lookup({ ...ref, intentId: found.intentId ?? null })).toMatchObject({
      status: "none",
    });
    const intent = await fake<Intent>(`/payment_intents/${found.intentId}`);
    expect(intent).toMatchObject({ status: "canceled", latest_charge: null });
  });
});

describe("Stripe: the storefront", () => {
  it("gives the page the shop's publishable key for Stripe Elements", async () => {
    const page = await (await call("/cart", { headers: { Accept: "text/html" } })).text();
    expect(page).toContain('data-payments="stripe"');
    expect(page).toContain(`data-stripe-key="${env.STRIPE_PUBLISHABLE_KEY}"`);
  });
});
