import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import {
  type Accepted,
  call,
  chargesFor,
  checkoutBody,
  deliverPayments,
  patchShardRow,
  postCheckout,
  shardRow,
  silenceQueue,
  stockedSku,
  unique,
} from "./helpers";

const SECRET = "whsec_test_secret";
const configured = { STRIPE_WEBHOOK_SECRET: SECRET } as Partial<Env>;
const stripe = new Stripe("sk_test_unused", { httpClient: Stripe.createFetchHttpClient() });
const crypto = Stripe.createSubtleCryptoProvider();

function event(type: string, orderId: string, id = unique("evt")) {
  return JSON.stringify({
    id,
    object: "event",
    type,
    created: Math.floor(Date.now() / 1000),
    data: { object: { id: "pi_test", object: "payment_intent", metadata: { order_id: orderId } } },
  });
}

/** Posts a body as Stripe would, signed with `secret` at `timestamp` (seconds). */
async function deliver(
  payload: string,
  { secret = SECRET, timestamp }: { secret?: string; timestamp?: number } = {},
) {
  const signature = await stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret,
    cryptoProvider: crypto,
    ...(timestamp ? { timestamp } : {}),
  });
  return call(
    "/v1/webhooks/stripe",
    {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
      body: payload,
    },
    configured,
  );
}

/** An order whose charge went through but whose answer was lost: pending, its outcome unknown. */
async function orderInDoubt() {
  const sku = await stockedSku(3);
  const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_timeout_after_charge"));
  const accepted = await response.json<Accepted>();
  await deliverPayments([accepted.orderId]);
  // Far in the future: only the webhook can make it due now.
  await patchShardRow(accepted.orderId, "due_at = ?", Date.now() + 3_600_000);
  expect(await shardRow(accepted.orderId)).toMatchObject({ status: "pending_payment", unknown_attempts: 1 });
  return accepted;
}

describe("POST /v1/webhooks/stripe", () => {
  it("takes a signed event once, looks the order's payment up at once, and is not moved by late or reordered events", async () => {
    const restoreQueue = silenceQueue();
    try {
      const order = await orderInDoubt();
      const succeeded = event("payment_intent.succeeded", order.orderId);
      const first = await deliver(succeeded);
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ received: true, orderId: order.orderId, duplicate: false });
      expect(Number((await shardRow(order.orderId))?.due_at)).toBeLessThanOrEqual(Date.now());

      // The consumer asks the gateway (the attempt was left unknown) and finds the charge.
      await deliverPayments([order.orderId]);
      expect(await shardRow(order.orderId)).toMatchObject({ status: "paid" });
      expect(await chargesFor(order.orderId)).toHaveLength(1);

      const again = await deliver(succeeded);
      expect(await again.json()).toMatchObject({ duplicate: true });
      // A failure event arriving late, after the success, changes nothing.
      expect((await deliver(event("payment_intent.payment_failed", order.orderId))).status).toBe(200);
      expect(await shardRow(order.orderId)).toMatchObject({ status: "paid" });
    } finally {
      restoreQueue();
    }
  });

  it("refuses a wrong, missing or stale signature with 400 and takes nothing", async () => {
    const restoreQueue = silenceQueue();
    try {
      const order = await orderInDoubt();
      const id = unique("evt");
      const body = event("payment_intent.succeeded", order.orderId, id);
      const wrong = await deliver(body, { secret: "whsec_someone_else" });
      expect(wrong.status).toBe(400);
      expect(await wrong.json()).toMatchObject({ code: "webhook_signature_invalid" });
      const stale = await deliver(body, { timestamp: Math.floor(Date.now() / 1000) - 600 });
      expect(stale.status).toBe(400);
      const unsigned = await call(
        "/v1/webhooks/stripe",
        { method: "POST", headers: { "Content-Type": "application/json" }, body },
        configured,
      );
      expect(unsigned.status).toBe(400);
      // A body changed after signing does not pass either.
      const signature = await stripe.webhooks.generateTestHeaderStringAsync({
        payload: body,
        secret: SECRET,
        cryptoProvider: crypto,
      });
      const tampered = await call(
        "/v1/webhooks/stripe",
        {
          method: "POST",
          headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
          body: body.replace("payment_intent.succeeded", "payment_intent.canceled"),
        },
        configured,
      );
      expect(tampered.status).toBe(400);
      expect(Number((await shardRow(order.orderId))?.due_at)).toBeGreaterThan(Date.now() + 60_000);
      // The same event, properly signed, is then taken for the first time.
      expect(await (await deliver(body)).json()).toMatchObject({ duplicate: false });
    } finally {
      restoreQueue();
    }
  });

  it("acknowledges events about no order of ours, and answers 503 while no signing secret is set", async () => {
    const other = await deliver(event("payment_intent.succeeded", "01KNOTOURS00000000000000000-3"));
    expect(await other.json()).toEqual({ received: true, orderId: null, duplicate: false });
    const unrelated = await deliver(event("customer.created", "whatever"));
    expect(unrelated.status).toBe(200);
    const body = event("payment_intent.succeeded", "x");
    const unconfigured = await call("/v1/webhooks/stripe", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00" },
      body,
    });
    expect(unconfigured.status).toBe(503);
    expect(unconfigured.headers.get("Retry-After")).toBe("300");
    expect(env.STRIPE_WEBHOOK_SECRET).toBe("");
  });
});
