import { describe, expect, it } from "vitest";
import {
  ADMIN,
  brokenD1,
  call,
  checkoutBody,
  createProduct,
  JSON_HEADERS,
  postCheckout,
  stockedSku,
  unique,
} from "./helpers";

/** What configuration or a dependency's error would look like in an answer. */
const INTERNALS =
  /STRIPE_|ALLOW_|ADMISSION_|TURNSTILE_|PAYMENT_PROVIDER|wrangler|secret|D1_ERROR|Drizzle|query|simulated outage/i;

describe("public answers", () => {
  it("carry no configuration in Stripe's webhook endpoint, checkout, /health or a waiting room", async () => {
    const answers = [
      await call(
        "/v1/webhooks/stripe",
        { method: "POST", headers: { ...JSON_HEADERS, "Stripe-Signature": "t=1,v1=x" }, body: "{}" },
        { STRIPE_WEBHOOK_SECRET: "" },
      ),
      await postCheckout(
        checkoutBody([{ sku: await stockedSku(1), quantity: 1 }]),
        unique("key"),
        {},
        { ALLOW_SIMULATED_PAYMENTS: "false" },
      ),
      await call("/health", {}, { PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY: "" }),
      await call("/health", {}, { DB: brokenD1 }),
    ];
    const product = await createProduct({
      saleStartsAt: new Date(Date.now() + 3_600_000).toISOString(),
      waitingRoom: { admitPerMinute: 60 },
    });
    answers.push(
      await call(
        `/v1/drops/${product.id}/tickets`,
        { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ email: "c@example.com" }) },
        { ADMISSION_SECRET: "" },
      ),
    );
    for (const response of answers) {
      expect(response.status).toBe(503);
      const text = await response.text();
      expect(text, text).not.toMatch(INTERNALS);
    }
  });

  it("gives the operator the reasons on /health with the admin token", async () => {
    const response = await call("/health", { headers: ADMIN }, { DB: brokenD1 });
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(text, text).toMatch(/Failed to run the query/);
  });

  it("send checkout's Server-Timing only to the admin, or when SERVER_TIMING is on", async () => {
    const sku = await stockedSku(5);
    const buy = (headers: Record<string, string>, bindings: Partial<Env> = {}) =>
      postCheckout(checkoutBody([{ sku, quantity: 1 }]), unique("key"), headers, bindings);
    const stranger = await buy({});
    expect(stranger.status).toBe(202);
    expect(stranger.headers.get("Server-Timing")).toBeNull();
    expect((await buy({ Authorization: "Bearer not-the-token" })).headers.get("Server-Timing")).toBeNull();
    expect((await buy(ADMIN)).headers.get("Server-Timing")).toMatch(/intake;dur=/);
    expect((await buy({}, { SERVER_TIMING: "true" })).headers.get("Server-Timing")).toMatch(/intake;dur=/);
  });
});
