import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { expect } from "vitest";
import { call, unique } from "../helpers";

const stripe = new Stripe("sk_test_unused", { httpClient: Stripe.createFetchHttpClient() });
const subtle = Stripe.createSubtleCryptoProvider();

/** The fake's side door: what the buyer, Stripe itself or the shop's dashboard do there. */
export async function fake<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${env.STRIPE_API_BASE}/_fake${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.json<T>();
}

/** Posts an event about `object` as Stripe would: signed with the endpoint's secret. */
export async function signedEvent(type: string, object: unknown, id = unique("evt")) {
  const payload = JSON.stringify({
    id,
    object: "event",
    type,
    api_version: "2025-01-27.acacia",
    created: Math.floor(Date.now() / 1000),
    data: { object },
  });
  const signature = await stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: env.STRIPE_WEBHOOK_SECRET,
    cryptoProvider: subtle,
  });
  return call("/v1/webhooks/stripe", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
    body: payload,
  });
}

/** An event Stripe sends and the shop takes (200): which order it reached, if any. */
export async function webhook(type: string, object: unknown, id = unique("evt")) {
  const response = await signedEvent(type, object, id);
  expect(response.status).toBe(200);
  return response.json<{ orderId: string | null; duplicate: boolean }>();
}
