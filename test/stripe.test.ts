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
  it("creates and confirms a PaymentIntent under Stripe's Idempotency-Key", async () => {
    const { fetchFn, seen } = fakeStripe([() => json(200, intent("succeeded"))]);
    const outcome = await new StripeGateway("sk_test_123", fetchFn).charge(request);
    expect(outcome).toEqual({ status: "succeeded", chargeId: "pi_123" });
    const sent = seen[0];
    expect(sent?.method).toBe("POST");
    expect(sent?.url).toBe("https://api.stripe.com/v1/payment_intents");
    expect(sent?.headers.get("Idempotency-Key")).toBe("order-01ORDER");
    expect(sent?.headers.get("Authorization")).toBe("Bearer sk_test_123");
    const form = new URLSearchParams(sent?.body);
    expect(form.get("amount")).toBe("4999");
    expect(form.get("currency")).toBe("usd");
    expect(form.get("confirm")).toBe("true");
    expect(form.get("payment_method")).toBe("pm_card_visa");
    expect(form.get("metadata[order_id]")).toBe("01ORDER");
  });

  it("reports a card error as a decline", async () => {
    const { fetchFn } = fakeStripe([
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
    expect(await new StripeGateway("sk_test_123", fetchFn).charge(request)).toEqual({
      status: "declined",
      reason: "insufficient_funds",
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
  ])("reports %s as an unknown outcome, to be looked up before any retry", async (_, answer) => {
    const { fetchFn } = fakeStripe([answer]);
    const outcome = await new StripeGateway("sk_test_123", fetchFn).charge(request);
    expect(outcome.status).toBe("unknown");
  });

  it("looks a charge up by the order id in the PaymentIntent metadata", async () => {
    const { fetchFn, seen } = fakeStripe([
      () =>
        json(200, {
          object: "search_result",
          data: [intent("succeeded", { latest_charge: { id: "ch_1", refunded: false } })],
          has_more: false,
        }),
      () => json(200, { object: "search_result", data: [], has_more: false }),
    ]);
    const gateway = new StripeGateway("sk_test_123", fetchFn);
    expect(await gateway.lookup("order-01ORDER", "01ORDER")).toEqual({
      status: "succeeded",
      chargeId: "pi_123",
    });
    expect(new URL(seen[0]?.url ?? "").searchParams.get("query")).toBe("metadata['order_id']:'01ORDER'");
    expect(await gateway.lookup("order-01OTHER", "01OTHER")).toEqual({ status: "none" });
  });

  it("refunds a PaymentIntent under its own idempotency key", async () => {
    const { fetchFn, seen } = fakeStripe([
      () => json(200, { id: "re_1", object: "refund", status: "succeeded" }),
    ]);
    await new StripeGateway("sk_test_123", fetchFn).refund("pi_123", "refund-01ORDER");
    expect(seen[0]?.url).toBe("https://api.stripe.com/v1/refunds");
    expect(seen[0]?.headers.get("Idempotency-Key")).toBe("refund-01ORDER");
    expect(new URLSearchParams(seen[0]?.body).get("payment_intent")).toBe("pi_123");
  });
});
