import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import type { AuthorizationRef } from "../../src/payments/gateway";
import { StripeGateway } from "../../src/payments/stripe.gateway";
import { unique } from "../helpers";

// Holds through the official SDK against the local fake of Stripe's HTTP API (test/fakes/stripe-api.mjs).
// Another file's storm of 429s shares the fake: requests here go again past a 429, so what is tested
// is the hold, and the 429 is tested on its own below.
const pastStorms: typeof fetch = async (input, init) => {
  for (let tries = 0; ; tries++) {
    const response = await fetch(input, init);
    if (response.status !== 429 || tries >= 20) return response;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
const gateway = new StripeGateway("sk_test_fake", { apiBase: env.STRIPE_API_BASE, fetchFn: pastStorms });
const DAY_MS = 24 * 60 * 60 * 1000;

/** The SDK as the shop's dashboard would use it, for what Stripe itself answers. */
const stripe = new Stripe("sk_test_fake", {
  httpClient: Stripe.createFetchHttpClient(pastStorms),
  maxNetworkRetries: 0,
  host: new URL(env.STRIPE_API_BASE).hostname,
  port: new URL(env.STRIPE_API_BASE).port,
  protocol: "http",
});

type Intent = {
  id: string;
  status: string;
  cancellation_reason: string | null;
  latest_charge: { captured: boolean; amount_captured: number; refunded: boolean } | null;
};

async function fake<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${env.STRIPE_API_BASE}/_fake${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.json<T>();
}

function hold(token: string): AuthorizationRef {
  const owner = unique("entry");
  return {
    orderId: owner,
    idempotencyKey: `hold-${owner}`,
    amount: { amount: 2500, currency: "USD" },
    token,
    intentId: null,
  };
}

/** Authorizes `ref` and answers it with the hold's intent id, as the caller would keep it. */
async function authorized(ref: AuthorizationRef): Promise<AuthorizationRef> {
  const outcome = await gateway.authorize(ref);
  if (outcome.status !== "authorized") throw new Error(`authorize ${outcome.status}`);
  return { ...ref, intentId: outcome.intentId };
}

describe("Stripe authorizations (manual capture)", () => {
  it("holds the card without capturing, until Stripe's capture_before 7 days on", async () => {
    const ref = hold("pm_card_visa");
    const outcome = await gateway.authorize(ref);
    expect(outcome).toMatchObject({ status: "authorized" });
    if (outcome.status !== "authorized") return;
    const lifetime = Date.parse(outcome.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(7 * DAY_MS - 60_000);
    expect(lifetime).toBeLessThanOrEqual(7 * DAY_MS);
    const intent = await fake<Intent>(`/payment_intents/${outcome.intentId}`);
    expect(intent).toMatchObject({ status: "requires_capture", latest_charge: { captured: false } });
    expect(await gateway.authorize(ref)).toEqual(outcome);
  });

  it("captures once: a repeated capture answers the same charge, and Stripe refuses a second capture", async () => {
    const ref = await authorized(hold("pm_card_visa"));
    const first = await gateway.capture(ref);
    expect(first).toEqual({
      status: "succeeded",
      chargeId: ref.intentId,
      captured: { amount: 2500, currency: "USD" },
      intentId: ref.intentId,
    });
    expect(await gateway.capture(ref)).toEqual(first);
    expect(await gateway.capture({ ...ref, intentId: null })).toEqual(first);
    const intent = await fake<Intent>(`/payment_intents/${ref.intentId}`);
    expect(intent).toMatchObject({
      status: "succeeded",
      latest_charge: { captured: true, amount_captured: 2500 },
    });
    await expect(stripe.paymentIntents.capture(ref.intentId as string)).rejects.toMatchObject({
      code: "payment_intent_unexpected_state",
    });
    await expect(stripe.paymentIntents.cancel(ref.intentId as string)).rejects.toMatchObject({
      code: "payment_intent_unexpected_state",
    });
    expect(await gateway.cancelAuthorization(ref)).toMatchObject({
      status: "captured",
      chargeId: ref.intentId,
    });
  });

  it("cancel releases the hold, and a later capture fails without charging", async () => {
    const ref = await authorized(hold("pm_card_visa"));
    expect(await gateway.cancelAuthorization(ref)).toMatchObject({ status: "cancelled", expired: false });
    expect(await gateway.cancelAuthorization(ref)).toMatchObject({ status: "cancelled", expired: false });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed", reason: "authorization_cancelled" });
    const intent = await fake<Intent>(`/payment_intents/${ref.intentId}`);
    expect(intent).toMatchObject({ status: "canceled", latest_charge: { captured: false, refunded: true } });
    await expect(stripe.paymentIntents.capture(ref.intentId as string)).rejects.toMatchObject({
      code: "payment_intent_unexpected_state",
    });
  });

  it("a card declined at authorize holds nothing", async () => {
    const ref = hold("pm_card_chargeDeclined");
    expect(await gateway.authorize(ref)).toMatchObject({ status: "declined", reason: "generic_decline" });
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({ status: "failed" });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed" });
  });

  it("a capture declined by the card fails, and the hold never charges", async () => {
    const ref = await authorized(hold("pm_card_captureDeclined"));
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed", reason: "generic_decline" });
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({ status: "failed" });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed" });
    const intent = await fake<Intent>(`/payment_intents/${ref.intentId}`);
    expect(intent.latest_charge).toMatchObject({ captured: false, amount_captured: 0 });
  });

  it("a lapsed hold (Stripe cancels it, automatic) fails to capture as authorization_expired", async () => {
    const ref = await authorized(hold("pm_card_visa"));
    await fake(`/payment_intents/${ref.intentId}/expire`, {});
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({ status: "cancelled", expired: true });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed", reason: "authorization_expired" });
  });

  it("a capture whose answer is lost is unknown; the lookup finds it captured, once", async () => {
    let lose = true;
    const losing = new StripeGateway("sk_test_fake", {
      apiBase: env.STRIPE_API_BASE,
      fetchFn: async (input, init) => {
        const response = await pastStorms(input, init);
        if (lose && String(input).endsWith("/capture")) throw new Error("connection reset after the capture");
        return response;
      },
    });
    const ref = await authorized(hold("pm_card_visa"));
    expect(await losing.capture(ref)).toMatchObject({ status: "unknown", intentId: ref.intentId });
    lose = false;
    expect(await losing.lookupAuthorization(ref)).toMatchObject({
      status: "captured",
      chargeId: ref.intentId,
    });
    expect(await losing.capture(ref)).toMatchObject({ status: "succeeded", chargeId: ref.intentId });
    const intent = await fake<Intent>(`/payment_intents/${ref.intentId}`);
    expect(intent.latest_charge).toMatchObject({ amount_captured: 2500 });
  });

  it("Stripe's 429 is throttled and a 5xx unknown, for authorize and capture alike", async () => {
    const answering = (status: number, type: string) =>
      new StripeGateway("sk_test_fake", {
        apiBase: env.STRIPE_API_BASE,
        fetchFn: async () =>
          new Response(JSON.stringify({ error: { type, message: "no" } }), {
            status,
            headers: { "Content-Type": "application/json" },
          }),
      });
    const ref = hold("pm_card_visa");
    expect(await answering(429, "rate_limit_error").authorize(ref)).toMatchObject({ status: "throttled" });
    expect(await answering(500, "api_error").authorize(ref)).toMatchObject({ status: "unknown" });
    expect(await answering(429, "rate_limit_error").capture(ref)).toMatchObject({ status: "throttled" });
    expect(await answering(503, "api_error").capture(ref)).toMatchObject({ status: "unknown" });
    await expect(answering(503, "api_error").cancelAuthorization(ref)).rejects.toThrow();
  });

  it("3-D Secure: no hold until the card holder passes; then it captures", async () => {
    const ref = hold("pm_card_threeDSecure2Required");
    const waiting = await gateway.authorize(ref);
    expect(waiting).toMatchObject({ status: "requires_action", action: { type: "use_stripe_sdk" } });
    if (waiting.status !== "requires_action") return;
    const kept = { ...ref, intentId: waiting.intentId };
    expect(await gateway.capture(kept)).toMatchObject({ status: "not_authorized", state: "requires_action" });
    await fake(`/payment_intents/${waiting.intentId}/authenticate`, { result: "pass" });
    expect(await gateway.lookupAuthorization(kept)).toMatchObject({ status: "authorized" });
    expect(await gateway.capture(kept)).toMatchObject({ status: "succeeded" });
  });

  it("cancel racing capture leaves exactly one outcome", async () => {
    const refs = await Promise.all(Array.from({ length: 8 }, () => authorized(hold("pm_card_visa"))));
    const raced = await Promise.all(
      refs.map((ref) => Promise.all([gateway.capture(ref), gateway.cancelAuthorization(ref)])),
    );
    for (const [i, [captured, after]] of raced.entries()) {
      const intent = await fake<Intent>(`/payment_intents/${refs[i]?.intentId}`);
      if (captured.status === "succeeded") {
        expect(after).toMatchObject({ status: "captured" });
        expect(intent).toMatchObject({ status: "succeeded", latest_charge: { amount_captured: 2500 } });
      } else {
        expect(captured).toMatchObject({ status: "failed", reason: "authorization_cancelled" });
        expect(after).toMatchObject({ status: "cancelled" });
        expect(intent).toMatchObject({ status: "canceled", latest_charge: { amount_captured: 0 } });
      }
    }
  }, 60_000);
});
