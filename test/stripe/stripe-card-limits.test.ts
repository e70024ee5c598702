import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  type Accepted,
  checkoutBody,
  deliverPayments,
  limitedSku,
  orderOf,
  postCheckout,
  shardRow,
  silenceQueue,
  stockOf,
  unique,
} from "../helpers";

/** The Stripe fake's side door: what Stripe.js would make of the card a buyer typed. */
async function fake<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${env.STRIPE_API_BASE}/_fake${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.json<T>();
}

/** A ConfirmationToken for a card that pays, `card` naming the card number (its fingerprint). */
const confirmationToken = async (card: string) =>
  (await fake<{ id: string }>("/confirmation_tokens", { payment_method: "pm_card_visa", card })).id;

async function buy(sku: string, token: string): Promise<Accepted> {
  const email = `${unique("buyer")}@example.com`;
  const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], token, { customer: { email } }));
  expect(response.status).toBe(202);
  return response.json<Accepted>();
}

describe("Stripe: the card fingerprint as a second customer key", () => {
  it("pays one of two emails paying with one card and refuses the other before its PaymentIntent exists", async () => {
    const restore = silenceQueue();
    try {
      const sku = await limitedSku(5);
      const card = unique("card");
      const first = await buy(sku, await confirmationToken(card));
      const second = await buy(sku, await confirmationToken(card));
      await deliverPayments([first.orderId]);
      await deliverPayments([second.orderId]);

      expect(await orderOf(first)).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
      const refused = await orderOf(second);
      expect(refused).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
      expect(refused.failureReason).toMatch(/^purchase_limit_exceeded/);
      // Never confirmed: no PaymentIntent was even created for it.
      expect((await shardRow(second.orderId))?.intent_id).toBeNull();
      const intents = await fake<{ data: unknown[] }>(`/payment_intents?order_id=${second.orderId}`);
      expect(intents.data).toEqual([]);
      expect(await stockOf(sku)).toMatchObject({ onHand: 4, committed: 1, reserved: 0 });

      // Another card is another customer.
      const other = await buy(sku, await confirmationToken(unique("card")));
      await deliverPayments([other.orderId]);
      expect(await orderOf(other)).toMatchObject({ status: "paid" });
    } finally {
      restore();
    }
  }, 60_000);
});
