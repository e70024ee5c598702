import { describe, expect, it } from "vitest";
import { StripeGateway } from "../src/payments/stripe.gateway";

type Seen = { method: string; url: string; headers: Headers; body: string };

/** Stripe's API as a function: answers each request from a script, recording what was sent. */
function fakeStripe(answers: ((request: Seen) => Response)[]) {
  const seen: Seen[] = [];
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const entry = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: await request.text(),
    };
    seen.push(entry);
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected request ${entry.method} ${entry.url}`);
    return answer(entry);
  }) as typeof fetch;
  return { fetchFn, seen };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", "Request-Id": "req_test" },
  });

const intent = (status: string, extra: Record<string, unknown> = {}) => ({
  id: "pi_123",
  object: "payment_intent",
  status,
  amount: 4999,
  currency: "usd",
  metadata: { order_id: "01ORDER" },
  ...extra,
});

const request = {
  orderId: "01ORDER",
  idempotencyKey: "order-01ORDER",
  amount: { amount: 4999, currency: "USD" },
  token: "pm_card_visa",
};

describe("Stripe gateway (PaymentIntents, against a mocked Stripe API)", () => {
  it("creates the PaymentIntent under the order's key, then confirms it under a key of its own", async () => {
    const { fetchFn, seen } = fakeStripe([
      () => json(200, intent("requires_confirmation")),
      () => json(200, intent("succeeded")),
    ]);
    const outcome = await new StripeGateway("sk_test_123", { fetchFn }).charge(request);
    expect(outcome).toEqual({ status: "succeeded", chargeId: "pi_123", intentId: "pi_123" });
    const [created, confirmed] = seen;
    expect(created?.method).toBe("POST");
    expect(created?.url).toBe("https://api.stripe.com/v1/payment_intents");
    expect(created?.headers.get("Idempotency-Key")).toBe("order-01ORDER");
    expect(created?.headers.get("Authorization")).toBe("Bearer sk_test_123");
    const form = new URLSearchParams(created?.body);
    expect(form.get("amount")).toBe("4999");
    expect(form.get("currency")).toBe("usd");
    expect(form.get("confirm")).toBeNull();
    expect(form.get("payment_method")).toBe("pm_card_visa");
    expect(form.get("metadata[order_id]")).toBe("01ORDER");
    expect(confirmed?.url).toBe("https://api.stripe.com/v1/payment_intents/pi_123/confirm");
    expect(confirmed?.headers.get("Idempotency-Key")).toBe("order-01ORDER-confirm");
  });

  it("reports a card error as a decline, with the PaymentIntent it concerns", async () => {
    const { fetchFn } = fakeStripe([
      () => json(200, intent("requires_confirmation")),
      () =>
        json(402, {
          error: {
            type: "card_error",
            code: "card_declined",
            decline_code: "insufficient_funds",
            message: "Declined",
          },
        }),
    ]);
    expect(await new StripeGateway("sk_test_123", { fetchFn }).charge(request)).toEqual({
      status: "declined",
      reason: "insufficient_funds",
      intentId: "pi_123",
    });
  });

  it("reports Stripe's 429 as 'later', not as a decline or an unknown charge", async () => {
    const limited = () =>
      json(429, { error: { type: "rate_limit_error", code: "rate_limit", message: "Too many requests" } });
    const onCreate = fakeStripe([limited]);
    expect(await new StripeGateway("sk_test_123", { fetchFn: onCreate.fetchFn }).charge(request)).toEqual({
      status: "throttled",
      retryAfterMs: 1000,
    });
    const onConfirm = fakeStripe([() => json(200, intent("requires_confirmation")), limited]);
    expect(await new StripeGateway("sk_test_123", { fetchFn: onConfirm.fetchFn }).charge(request)).toEqual({
      status: "throttled",
      retryAfterMs: 1000,
      intentId: "pi_123",
    });
  });

  it.each([
    ["a 500", () => json(500, { error: { type: "api_error", message: "Boom" } })],
    [
      "a dropped connection",
      () => {
        throw new TypeError("network connection lost");
      },
    ],
  ])("reports %s on confirm as an unknown outcome, keeping the PaymentIntent's id", async (_, answer) => {
    const { fetchFn } = fakeStripe([() => json(200, intent("requires_confirmation")), answer]);
    const outcome = await new StripeGateway("sk_test_123", { fetchFn }).charge(request);
    expect(outcome).toMatchObject({ status: "unknown", intentId: "pi_123" });
  });

  it("looks a charge up by retrieving the PaymentIntent whose id it was given, never by search", async () => {
    const { fetchFn, seen } = fakeStripe([
      () => json(200, intent("succeeded", { latest_charge: { id: "ch_1", refunded: false } })),
      () => json(200, intent("requires_payment_method", { id: "pi_456" })),
    ]);
    const gateway = new StripeGateway("sk_test_123", { fetchFn });
    expect(await gateway.lookup({ ...request, intentId: "pi_123" })).toEqual({
      status: "succeeded",
      chargeId: "pi_123",
      intentId: "pi_123",
    });
    const url = new URL(seen[0]?.url ?? "");
    expect(seen[0]?.method).toBe("GET");
    expect(url.pathname).toBe("/v1/payment_intents/pi_123");
    expect(url.searchParams.get("expand[0]")).toBe("latest_charge");
    expect(await gateway.lookup({ ...request, intentId: "pi_456" })).toEqual({
      status: "none",
      intentId: "pi_456",
    });
    expect(seen.some((sent) => sent.url.includes("/search"))).toBe(false);
  });

  it("finds an unreported PaymentIntent by repeating its idempotent create, then reads it", async () => {
    const { fetchFn, seen } = fakeStripe([
      () => json(200, intent("succeeded")),
      () => json(200, intent("succeeded", { latest_charge: { id: "ch_1", refunded: true } })),
    ]);
    const found = await new StripeGateway("sk_test_123", { fetchFn }).lookup({ ...request, intentId: null });
    expect(found).toEqual({ status: "refunded", chargeId: "pi_123", intentId: "pi_123" });
    expect(seen[0]?.headers.get("Idempotency-Key")).toBe("order-01ORDER");
    expect(new URL(seen[1]?.url ?? "").pathname).toBe("/v1/payment_intents/pi_123");
  });

  it("refunds a PaymentIntent under its own idempotency key", async () => {
    const { fetchFn, seen } = fakeStripe([
      () => json(200, { id: "re_1", object: "refund", status: "succeeded" }),
    ]);
    await new StripeGateway("sk_test_123", { fetchFn }).refund("pi_123", "refund-01ORDER");
    expect(seen[0]?.url).toBe("https://api.stripe.com/v1/refunds");
    expect(seen[0]?.headers.get("Idempotency-Key")).toBe("refund-01ORDER");
    expect(new URLSearchParams(seen[0]?.body).get("payment_intent")).toBe("pi_123");
  });
});

describe("Stripe gateway: the card's fingerprint before the charge", () => {
  const card = (fingerprint: string | null) => ({ brand: "visa", last4: "4242", fingerprint });

  it("reads a ConfirmationToken's previewed card, and a PaymentMethod's own card, without charging", async () => {
    const { fetchFn, seen } = fakeStripe([
      () =>
        json(200, {
          id: "ctoken_123",
          object: "confirmation_token",
          payment_method_preview: { type: "card", card: card("fpCard1") },
        }),
      () => json(200, { id: "pm_123", object: "payment_method", type: "card", card: card("fpCard2") }),
    ]);
    const gateway = new StripeGateway("sk_test_123", { fetchFn });
    expect(await gateway.fingerprint("ctoken_123")).toEqual({ status: "card", fingerprint: "fpCard1" });
    expect(await gateway.fingerprint("pm_123")).toEqual({ status: "card", fingerprint: "fpCard2" });
    expect(seen.map((sent) => `${sent.method} ${new URL(sent.url).pathname}`)).toEqual([
      "GET /v1/confirmation_tokens/ctoken_123",
      "GET /v1/payment_methods/pm_123",
    ]);
  });

  it("gives no fingerprint for other payment methods and other tokens", async () => {
    const { fetchFn, seen } = fakeStripe([
      () =>
        json(200, {
          id: "ctoken_456",
          object: "confirmation_token",
          payment_method_preview: { type: "us_bank_account", us_bank_account: {} },
        }),
    ]);
    const gateway = new StripeGateway("sk_test_123", { fetchFn });
    expect(await gateway.fingerprint("ctoken_456")).toEqual({ status: "none" });
    expect(await gateway.fingerprint("src_789")).toEqual({ status: "none" });
    expect(seen).toHaveLength(1);
  });

  it("answers an unknown token as invalid, a 429 as 'later', and throws on anything that leaves it unread", async () => {
    const { fetchFn } = fakeStripe([
      () =>
        json(404, {
          error: { type: "invalid_request_error", code: "resource_missing", message: "No such token" },
        }),
      () =>
        json(429, { error: { type: "rate_limit_error", code: "rate_limit", message: "Too many requests" } }),
      () => json(500, { error: { type: "api_error", message: "Boom" } }),
    ]);
    const gateway = new StripeGateway("sk_test_123", { fetchFn });
    expect(await gateway.fingerprint("ctoken_gone")).toEqual({
      status: "invalid",
      reason: "resource_missing",
    });
    expect(await gateway.fingerprint("ctoken_busy")).toEqual({ status: "throttled", retryAfterMs: 1000 });
    await expect(gateway.fingerprint("ctoken_down")).rejects.toThrow();
  });
});
