import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import {
  ADMIN,
  brokenD1,
  call,
  chargesFor,
  checkoutBody,
  deliverPayments,
  postCheckout,
  shardRow,
  silenceQueue,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

describe("GET /health", () => {
  it("answers 200 ok when D1, KV and the inventory objects answer", async () => {
    const response = await call("/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      ok: true,
      checks: { d1: { ok: true }, kv: { ok: true }, inventory: { ok: true } },
    });
  });

  it("answers 503 naming D1 when D1 fails", async () => {
    const response = await call("/health", {}, { DB: brokenD1 });
    expect(response.status).toBe(503);
    expect(response.headers.get("Retry-After")).toBeTruthy();
    const body = await response.json<Record<string, unknown>>();
    expect(body).toMatchObject({ ok: false, failed: ["d1"], code: "service_unavailable" });
  });
});

describe("request ids and logs", () => {
  it("echoes a sane X-Request-Id and replaces an insane one", async () => {
    const echoed = await call("/health", { headers: { "X-Request-Id": "abc-123" } });
    expect(echoed.headers.get("X-Request-Id")).toBe("abc-123");
    const replaced = await call("/health", { headers: { "X-Request-Id": "<script>alert(1)</script>" } });
    expect(replaced.headers.get("X-Request-Id")).toMatch(/^[0-9A-Z]{26}$/);
  });

  it("carries the request id on problem responses too", async () => {
    const response = await call("/v1/nowhere", { headers: { "X-Request-Id": "trace-7" } });
    expect(response.status).toBe(404);
    expect(response.headers.get("X-Request-Id")).toBe("trace-7");
    expect(await response.json()).toMatchObject({ code: "not_found", requestId: "trace-7" });
  });

  it("writes one JSON log line per request with method, path, status, duration, id and cache layer", async () => {
    const log = vi.spyOn(console, "log");
    try {
      // Routine answers are sampled (see early-answers.test.ts); at rate 1 every one is written.
      await call(
        "/v1/products?limit=1",
        { headers: { "X-Request-Id": "log-test" } },
        { ACCESS_LOG_SAMPLE_RATE: "1" },
      );
      const lines = log.mock.calls
        .map(([line]) => String(line))
        .filter((line) => line.includes('"log-test"'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] ?? "")).toMatchObject({
        msg: "request",
        method: "GET",
        path: "/v1/products",
        status: 200,
        requestId: "log-test",
        durationMs: expect.any(Number),
        cache: expect.stringMatching(/^(memory|cache|kv|d1|stale)$/),
      });
    } finally {
      log.mockRestore();
    }
  });
});

describe("OpenAPI and docs", () => {
  it("serves an OpenAPI 3.1 document covering every public and admin route", async () => {
    const response = await call("/openapi.json");
    expect(response.status).toBe(200);
    const doc = await response.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toBe("3.1.0");
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations).toEqual(
      expect.arrayContaining([
        "GET /v1/products",
        "GET /v1/products/{idOrSlug}",
        "GET /v1/inventory/{sku}",
        "POST /v1/admin/products",
        "PUT /v1/admin/products/{id}",
        "DELETE /v1/admin/products/{id}",
        "GET /v1/admin/inventory/{sku}",
        "PUT /v1/admin/inventory/{sku}",
        "POST /v1/admin/inventory/{sku}/adjustments",
        "GET /health",
        "POST /v1/checkout",
        "GET /v1/orders/{id}",
        "POST /v1/orders/{id}/cancel",
        "GET /v1/admin/orders",
        "GET /v1/admin/simulator/charges",
        "POST /v1/admin/reconcile",
        "POST /v1/admin/inventory/{sku}/rebalance",
        "GET /v1/admin/inventory/{sku}/ledger",
      ]),
    );
  });

  it("gives every operation an id and its security, every body route its 413/415, every 429/503 its Retry-After", async () => {
    type Operation = {
      operationId?: string;
      security?: unknown[];
      requestBody?: unknown;
      responses: Record<string, { headers?: Record<string, unknown> }>;
    };
    const doc = await (await call("/openapi.json")).json<{
      servers: { url: string }[];
      paths: Record<string, Record<string, Operation>>;
    }>();
    expect(doc.servers).toEqual([{ url: "https://shop.example", description: "This deployment" }]);
    const operations = Object.values(doc.paths).flatMap((methods) => Object.values(methods));
    const ids = operations.map((op) => op.operationId);
    expect(new Set(ids).size).toBe(operations.length);
    for (const op of operations) {
      expect(op.operationId).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.security).toBeDefined();
      if (op.requestBody) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["413", "415"]));
      for (const status of ["429", "503"]) {
        if (op.responses[status]) expect(op.responses[status]?.headers).toHaveProperty("Retry-After");
      }
    }
    const checkout = doc.paths["/v1/checkout"]?.post as unknown as {
      parameters: { name: string; required: boolean }[];
    };
    expect(checkout.parameters).toContainEqual(
      expect.objectContaining({ name: "idempotency-key", required: true }),
    );
  });

  it("serves the reference at /docs from the shop's own assets, reading the shop's own document", async () => {
    const response = await call("/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain('data-url="/openapi.json"');
    const sources = [...html.matchAll(/<script\b[^>]*>/g)].map((tag) => /src="([^"]+)"/.exec(tag[0])?.[1]);
    expect(sources).toEqual(["/assets/vendor/scalar-api-reference.js", "/assets/docs-page.js"]);
  });
});

describe("scheduled catalog republish", () => {
  it("copies products changed recently from D1 back into KV", async () => {
    const { default: worker } = await import("../src/index");
    const { createExecutionContext, createScheduledController, waitOnExecutionContext } = await import(
      "cloudflare:test"
    );
    const { createProduct } = await import("./helpers");
    const product = await createProduct();
    await env.CATALOG.delete(`product:${product.slug}`);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    const entry = await env.CATALOG.get<{ body: string }>(`product:${product.slug}`, "json");
    expect(JSON.parse(entry?.body ?? "null")).toEqual(product);
  });
});

describe("a deployment whose payments are not configured", () => {
  const deployed = { ALLOW_SIMULATED_PAYMENTS: "false" } as Partial<Env>;

  it("refuses checkout with the simulator unless allowed, holding nothing", async () => {
    const sku = await stockedSku(3);
    const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }]), unique("key"), {}, deployed);
    expect(response.status).toBe(503);
    expect(response.headers.get("Retry-After")).toBe("300");
    expect(await response.json()).toMatchObject({ code: "payments_not_configured" });
    expect(await stockOf(sku)).toMatchObject({ reserved: 0, available: 3 });
  });

  it("says so in /health, and why to the operator", async () => {
    const response = await call("/health", { headers: ADMIN }, deployed);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      failed: ["payments"],
      payments: { provider: "simulated", live: false },
      checks: { payments: { ok: false, error: expect.stringContaining("simulator") } },
    });
    const stripeWithoutKey = await call(
      "/health",
      { headers: ADMIN },
      { PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY: "" },
    );
    expect(await stripeWithoutKey.json()).toMatchObject({
      failed: ["payments"],
      checks: { payments: { error: expect.stringContaining("STRIPE_SECRET_KEY") } },
    });
    expect(await (await call("/health")).json()).toMatchObject({
      payments: { provider: "simulated", live: false },
    });
  });

  it("reads the settings leniently: a typo never takes the shop down", async () => {
    for (const allow of ["TRUE", "1", "yes"]) {
      expect((await call("/health", {}, { ALLOW_SIMULATED_PAYMENTS: allow } as Partial<Env>)).status).toBe(
        200,
      );
    }
    const typo = { ALLOW_SIMULATED_PAYMENTS: "maybe", PAYMENT_PROVIDER: "Strpe" } as Partial<Env>;
    expect((await call("/v1/products?limit=1", {}, typo)).status).toBe(200);
    const health = await call("/health", { headers: ADMIN }, typo);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({
      checks: { payments: { error: expect.stringContaining('PAYMENT_PROVIDER "strpe"') } },
    });
  });

  it("charges nothing for orders already queued, and counts no attempt, until a gateway is allowed", async () => {
    const restoreQueue = silenceQueue();
    try {
      const sku = await stockedSku(2);
      const placed = await postCheckout(checkoutBody([{ sku, quantity: 1 }]));
      const { orderId } = await placed.json<{ orderId: string }>();
      const result = await deliverPayments([orderId], "stampede-payments", deployed);
      expect(result.retryBatch).toMatchObject({ retry: true });
      expect(await chargesFor(orderId)).toEqual([]);
      expect(await shardRow(orderId)).toMatchObject({ attempts: 0, status: "pending_payment" });
    } finally {
      restoreQueue();
    }
  });

  it("offers no test cards in the shop, which says it takes no payments", async () => {
    const page = await (await call("/cart", { headers: { Accept: "text/html" } }, deployed)).text();
    expect(page).toContain('data-payments="off"');
    const local = await (await call("/cart", { headers: { Accept: "text/html" } })).text();
    expect(local).toContain('data-payments="simulated"');
  });
});
