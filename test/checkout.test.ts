import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SkuInventory } from "../src/inventory/inventory.do";
import {
  type Accepted,
  ADMIN,
  breakMethod,
  call,
  checkoutBody,
  claimOf,
  counting,
  JSON_HEADERS,
  shardOrderCount as orderCount,
  postCheckout,
  readOrder,
  shardRow,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

describe("POST /v1/checkout", () => {
  it("holds the stock, records the order and answers 202 with catalog prices", async () => {
    const sku = await stockedSku(10);
    const response = await postCheckout(
      checkoutBody(
        [
          { sku, quantity: 2 },
          { sku, quantity: 1 },
        ],
        "tok_down",
      ),
      undefined,
      // Checkout's stages are shown to the operator.
      ADMIN,
    );
    expect(response.status).toBe(202);
    const body = await response.json<Accepted>();
    expect(response.headers.get("Location")).toBe(`/v1/orders/${body.orderId}`);
    expect(response.headers.get("Server-Timing")).toMatch(
      /limit;dur=.*price;dur=.*plan;dur=.*intake;dur=.*claim;dur=.*reserve;dur=.*record;dur=/,
    );
    expect(body).toMatchObject({
      status: "pending_payment",
      total: { amount: 3 * 1999, currency: "USD" },
      items: [{ sku, quantity: 3, unitPrice: { amount: 1999, currency: "USD" } }],
    });
    expect(body.orderToken.length).toBeGreaterThanOrEqual(43);
    expect(new Date(body.holdExpiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(await stockOf(sku)).toMatchObject({ reserved: 3, available: 7 });
    // The shard keeps the token's hash only; neither the order nor the stored answer reveals it.
    const stored = await shardRow(body.orderId);
    expect(JSON.parse(String(stored?.accepted)).tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(body.orderToken);
  });

  it("ignores any price the client sends: unknown fields are refused", async () => {
    const sku = await stockedSku(10);
    const response = await postCheckout({
      ...checkoutBody([{ sku, quantity: 1 }]),
      items: [{ sku, quantity: 1, price: { amount: 1, currency: "USD" } }],
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "validation_failed" });
  });

  it("answers 409 insufficient_stock with every short SKU and holds nothing", async () => {
    const [plenty, scarce] = [await stockedSku(10), await stockedSku(1)];
    const response = await postCheckout(
      checkoutBody([
        { sku: plenty, quantity: 2 },
        { sku: scarce, quantity: 2 },
      ]),
    );
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({
      code: "insufficient_stock",
      skus: [{ sku: scarce, requested: 2, available: 1 }],
    });
    expect(await stockOf(plenty)).toMatchObject({ reserved: 0, holds: [] });
    expect(await stockOf(scarce)).toMatchObject({ reserved: 0, holds: [] });
  });
});

describe("Idempotency-Key", () => {
  it.each([
    ["missing", null, "idempotency_key_missing"],
    ["empty", "", "idempotency_key_invalid"],
    ["too long", "k".repeat(256), "idempotency_key_invalid"],
    ["with a space", "two words", "idempotency_key_invalid"],
    ["with a control character", "a\u0001b", "idempotency_key_invalid"],
    ["an unterminated quoted string", '"abc', "idempotency_key_invalid"],
  ])("refuses a %s key with 400 and records nothing", async (_, key, code) => {
    const sku = await stockedSku(5);
    const before = await orderCount();
    const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }]), key);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code });
    expect(await orderCount()).toBe(before);
    expect(await stockOf(sku)).toMatchObject({ reserved: 0 });
  });

  it("accepts the key as a quoted sf-string, the same key as its bare form", async () => {
    const sku = await stockedSku(5);
    const key = unique("quoted");
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_down");
    const first = await postCheckout(body, `"${key}"`);
    expect(first.status).toBe(202);
    const again = await postCheckout(body, key);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
  });

  it("replays the first response byte for byte, with Idempotent-Replayed", async () => {
    const sku = await stockedSku(5);
    const key = unique("replay");
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_down");
    const first = await postCheckout(body, key);
    const firstBody = await first.text();
    const second = await postCheckout(body, key);
    expect(second.status).toBe(first.status);
    expect(await second.text()).toBe(firstBody);
    expect(second.headers.get("Location")).toBe(first.headers.get("Location"));
    expect(second.headers.get("Idempotent-Replayed")).toBe("true");
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await stockOf(sku)).toMatchObject({ reserved: 1 });
  });

  it("replays an out-of-stock answer too", async () => {
    const sku = await stockedSku(0);
    const key = unique("sold-out");
    const body = checkoutBody([{ sku, quantity: 1 }]);
    const first = await postCheckout(body, key);
    expect(first.status).toBe(409);
    await call(`/v1/admin/inventory/${sku}`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}`, ...JSON_HEADERS },
      body: JSON.stringify({ onHand: 5 }),
    });
    const second = await postCheckout(body, key);
    expect(second.status).toBe(409);
    expect(await second.text()).toBe(await first.text());
    expect(second.headers.get("Idempotent-Replayed")).toBe("true");
  });

  it("answers 422 idempotency_key_mismatch for the same key with another body", async () => {
    const sku = await stockedSku(5);
    const key = unique("mismatch");
    expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_down"), key)).status).toBe(202);
    const before = await orderCount();
    const other = await postCheckout(checkoutBody([{ sku, quantity: 2 }], "tok_down"), key);
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ code: "idempotency_key_mismatch" });
    expect(await orderCount()).toBe(before);
    expect(await stockOf(sku)).toMatchObject({ reserved: 1 });
  });

  it("makes exactly one order from 20 parallel identical checkouts", async () => {
    const sku = await stockedSku(50);
    const key = unique("parallel");
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_down");
    const ip = "10.9.9.9";
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => postCheckout(body, key, { "CF-Connecting-IP": ip })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((status) => status === 202 || status === 409)).toBe(true);
    const accepted = await Promise.all(
      responses.filter((r) => r.status === 202).map((r) => r.json<Accepted>()),
    );
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(new Set(accepted.map((a) => a.orderId)).size).toBe(1);
    for (const refused of responses.filter((r) => r.status === 409)) {
      expect(await refused.json()).toMatchObject({ code: "idempotency_key_in_use" });
      expect(refused.headers.get("Retry-After")).toBeTruthy();
    }
    expect(await stockOf(sku)).toMatchObject({ reserved: 1 });
    expect(await claimOf(key)).toMatchObject({ state: "done", order_id: accepted[0]?.orderId });
    expect(await shardRow(accepted[0]?.orderId ?? "")).not.toBeNull();
  });
});

describe("hostile checkout bodies get a 4xx and change nothing", () => {
  const cases: [string, (sku: string) => unknown, number, string][] = [
    ["malformed JSON", () => "{not json", 400, "invalid_json"],
    ["an array", () => [], 400, "validation_failed"],
    ["no items", () => checkoutBody([]), 400, "validation_failed"],
    ["a zero quantity", (sku) => checkoutBody([{ sku, quantity: 0 }]), 400, "validation_failed"],
    ["a negative quantity", (sku) => checkoutBody([{ sku, quantity: -1 }]), 400, "validation_failed"],
    ["a fractional quantity", (sku) => checkoutBody([{ sku, quantity: 1.5 }]), 400, "validation_failed"],
    ["a huge quantity", (sku) => checkoutBody([{ sku, quantity: 1e9 }]), 400, "validation_failed"],
    [
      "duplicates adding up past the cap",
      (sku) =>
        checkoutBody([
          { sku, quantity: 600 },
          { sku, quantity: 600 },
        ]),
      400,
      "validation_failed",
    ],
    [
      "a string quantity",
      (sku) => checkoutBody([{ sku, quantity: "1" as unknown as number }]),
      400,
      "validation_failed",
    ],
    ["an unknown SKU", () => checkoutBody([{ sku: "NO-SUCH-SKU", quantity: 1 }]), 400, "validation_failed"],
    [
      "a bad email",
      (sku) => ({ ...checkoutBody([{ sku, quantity: 1 }]), customer: { email: "not-an-email" } }),
      400,
      "validation_failed",
    ],
    [
      "an unknown top-level field",
      (sku) => ({ ...checkoutBody([{ sku, quantity: 1 }]), discount: 100 }),
      400,
      "validation_failed",
    ],
    [
      "no payment token",
      (sku) => ({ ...checkoutBody([{ sku, quantity: 1 }]), payment: {} }),
      400,
      "validation_failed",
    ],
    [
      "a bad country",
      (sku) =>
        checkoutBody([{ sku, quantity: 1 }], "tok_ok", {
          shippingAddress: { line1: "1 Main", city: "X", postalCode: "1", country: "usa" },
        }),
      400,
      "validation_failed",
    ],
    [
      "a body over 64 KiB",
      (sku) => ({
        ...checkoutBody([{ sku, quantity: 1 }]),
        customer: { email: "a@b.co", name: "x".repeat(70_000) },
      }),
      413,
      "payload_too_large",
    ],
  ];

  it.each(cases)("%s", async (_, build, status, code) => {
    const sku = await stockedSku(5);
    const before = await orderCount();
    const key = unique("hostile");
    const response = await postCheckout(build(sku), key);
    expect(response.status).toBe(status);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({ code });
    expect(await orderCount()).toBe(before);
    expect(await stockOf(sku)).toMatchObject({ reserved: 0 });
    // A refused request leaves its key unclaimed, so the client can fix the body and retry with it.
    expect(await claimOf(key)).toBeNull();
  });

  it("rate limits one client with 429 and Retry-After", async () => {
    const ip = "10.200.200.200";
    let limited: Response | undefined;
    for (let i = 0; i < 400 && !limited; i++) {
      const response = await postCheckout(checkoutBody([{ sku: "NO-SUCH-SKU", quantity: 1 }]), unique("rl"), {
        "CF-Connecting-IP": ip,
      });
      if (response.status === 429) limited = response;
    }
    expect(limited?.status).toBe(429);
    expect(limited?.headers.get("Retry-After")).toBeTruthy();
    expect(await limited?.json()).toMatchObject({ code: "rate_limited" });
  });

  it("refuses a limited client again for the rest of the period without asking the limiter", async () => {
    const ip = "10.201.201.201";
    const limiter = counting(env.CHECKOUT_LIMITER, ["limit"]);
    const bindings = { CHECKOUT_LIMITER: limiter.binding };
    const post = () =>
      postCheckout(
        checkoutBody([{ sku: "NO-SUCH-SKU", quantity: 1 }]),
        unique("rl-again"),
        { "CF-Connecting-IP": ip },
        bindings,
      );
    let asked = 0;
    for (let i = 0; i < 400; i++) {
      const response = await post();
      if (response.status === 429) break;
      asked = limiter.calls();
    }
    const atRefusal = limiter.calls();
    expect(atRefusal).toBe(asked + 1);
    for (let i = 0; i < 5; i++) {
      const again = await post();
      expect(again.status).toBe(429);
      expect(again.headers.get("Retry-After")).toBeTruthy();
    }
    expect(limiter.calls()).toBe(atRefusal);
    // Another client still asks the limiter, and gets through.
    const other = await postCheckout(
      checkoutBody([{ sku: "NO-SUCH-SKU", quantity: 1 }]),
      unique("rl"),
      {},
      bindings,
    );
    expect(other.status).toBe(400);
    expect(limiter.calls()).toBe(atRefusal + 1);
  });
});

describe("GET /v1/orders/:id", () => {
  it("answers the order to its token, and the same 404 to a wrong token or an unknown id", async () => {
    const sku = await stockedSku(5);
    const accepted = await (
      await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_down"))
    ).json<Accepted>();
    const ok = await readOrder(accepted.orderId, accepted.orderToken);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      id: accepted.orderId,
      status: "pending_payment",
      items: [{ sku, quantity: 1, unitPrice: { amount: 1999, currency: "USD" } }],
      total: { amount: 1999, currency: "USD" },
      customer: { email: "buyer@example.com" },
      payment: { status: expect.any(String), attempts: expect.any(Number) },
    });
    const wrong = await readOrder(accepted.orderId, "not-the-token");
    const unknown = await readOrder("01JNOSUCHORDER000000000000", accepted.orderToken);
    const missing = await call(`/v1/orders/${accepted.orderId}`);
    for (const response of [wrong, unknown, missing]) {
      expect(response.status).toBe(404);
      const { requestId, detail, ...problem } = await response.json<Record<string, unknown>>();
      expect(problem).toMatchObject({ code: "order_not_found", status: 404 });
    }
  });

  it("cancels a pending order, releases its stock, and refuses to cancel twice into another state", async () => {
    const sku = await stockedSku(5);
    const accepted = await (
      await postCheckout(checkoutBody([{ sku, quantity: 2 }], "tok_down"))
    ).json<Accepted>();
    const cancel = () =>
      call(`/v1/orders/${accepted.orderId}/cancel`, {
        method: "POST",
        headers: { Authorization: `Bearer ${accepted.orderToken}` },
      });
    const first = await cancel();
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ status: "cancelled" });
    expect(await stockOf(sku)).toMatchObject({ reserved: 0, available: 5 });
    expect((await cancel()).status).toBe(200);
    const stranger = await call(`/v1/orders/${accepted.orderId}/cancel`, { method: "POST" });
    expect(stranger.status).toBe(404);
  });
});

describe("when inventory cannot be reached", () => {
  it("answers 503 with Retry-After, holds nothing and gives the key back", async () => {
    const sku = await stockedSku(5);
    const key = unique("inventory-down");
    const body = checkoutBody([{ sku, quantity: 2 }], "tok_down");
    const before = await orderCount();
    const restore = breakMethod(SkuInventory.prototype, "reserve");
    let response: Response;
    try {
      response = await postCheckout(body, key);
    } finally {
      restore();
    }
    expect(response.status).toBe(503);
    expect(response.headers.get("Retry-After")).toBeTruthy();
    expect(await response.json()).toMatchObject({ code: "service_unavailable" });
    expect(await orderCount()).toBe(before);
    expect(await stockOf(sku)).toMatchObject({ reserved: 0, available: 5 });
    expect(await claimOf(key)).toBeNull();
    // The same key works once inventory is back: nothing of the failed attempt is left to replay.
    const retried = await postCheckout(body, key);
    expect(retried.status).toBe(202);
    expect(retried.headers.get("Idempotent-Replayed")).toBeNull();
  });
});

describe("late buyers of a sold-out SKU", () => {
  it("are refused with 409 insufficient_stock without D1 or inventory, asking only the key's shard", async () => {
    const sku = await stockedSku(1);
    expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_down"))).status).toBe(202);
    expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_down"))).status).toBe(409);
    const d1 = counting(env.DB, ["prepare", "batch", "exec"]);
    const objects = counting(env.INVENTORY, ["getByName", "get", "idFromName"]);
    const shards = counting(env.ORDERS, ["getByName"]);
    for (let i = 0; i < 20; i++) {
      const response = await postCheckout(
        checkoutBody([{ sku, quantity: 1 }]),
        undefined,
        {},
        { DB: d1.binding, INVENTORY: objects.binding, ORDERS: shards.binding },
      );
      expect(response.status).toBe(409);
      expect(await response.json()).toMatchObject({
        code: "insufficient_stock",
        skus: [{ sku, requested: 1, available: 0 }],
      });
    }
    expect(d1.calls()).toBe(0);
    expect(objects.calls()).toBe(0);
    // One question per refusal, to the key's shard: does this key already hold an answer?
    expect(shards.calls()).toBe(20);
  });
});
