import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import createClient from "openapi-fetch";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import type { paths } from "./client/stampede-api";
import { ADMIN, unique } from "./helpers";

/**
 * A client generated from the worker's own OpenAPI document (`npm run api`: openapi-typescript for
 * the types, openapi-fetch for the calls) drives a sale end to end. If the document stopped
 * describing what the worker does, this file would stop compiling or these calls would fail.
 */
function stampede(headers: Record<string, string> = {}) {
  return createClient<paths>({
    baseUrl: "https://shop.example",
    headers,
    fetch: async (request: Request) => {
      const ctx = createExecutionContext();
      const response = await worker.fetch(request, env, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    },
  });
}

describe("a client generated from /openapi.json", () => {
  it("stocks a product, finds it, checks it out and sees it paid", async () => {
    const admin = stampede(ADMIN);
    const shop = stampede({ "CF-Connecting-IP": `198.51.100.${Math.floor(Math.random() * 250)}` });
    const slug = unique("typed");
    const sku = `${slug.toUpperCase()}-A`;

    const created = await admin.POST("/v1/admin/products", {
      body: {
        slug,
        title: "Typed Client Tee",
        description: "Bought by a generated client",
        category: "tests",
        images: [],
        requiresShipping: true,
        variants: [{ sku, title: "M", price: { amount: 2500, currency: "USD" }, attributes: { size: "M" } }],
      },
    });
    expect(created.response.status).toBe(201);
    const stocked = await admin.PUT("/v1/admin/inventory/{sku}", {
      params: { path: { sku } },
      body: { onHand: 3 },
    });
    expect(stocked.data?.available).toBe(3);

    const product = await shop.GET("/v1/products/{idOrSlug}", { params: { path: { idOrSlug: slug } } });
    expect(product.data?.variants[0]?.price).toEqual({ amount: 2500, currency: "USD" });
    const etag = product.response.headers.get("ETag") ?? "";
    const again = await shop.GET("/v1/products/{idOrSlug}", {
      params: { path: { idOrSlug: slug }, header: { "if-none-match": etag } },
    });
    expect(again.response.status).toBe(304);
    const stock = await shop.GET("/v1/inventory/{sku}", { params: { path: { sku } } });
    expect(stock.data).toEqual({ sku, available: 3, status: "low_stock" });

    const accepted = await shop.POST("/v1/checkout", {
      params: { header: { "idempotency-key": unique("typed-key") } },
      body: {
        items: [{ sku, quantity: 2 }],
        customer: { email: "typed@example.com", name: "Typed Buyer" },
        payment: { token: "tok_ok" },
      },
    });
    expect(accepted.response.status).toBe(202);
    const { orderId, orderToken } = accepted.data ?? { orderId: "", orderToken: "" };
    expect(accepted.data?.total).toEqual({ amount: 5000, currency: "USD" });

    const buyer = stampede({ Authorization: `Bearer ${orderToken}` });
    let status = "pending_payment";
    for (let i = 0; i < 200 && status === "pending_payment"; i++) {
      const order = await buyer.GET("/v1/orders/{id}", { params: { path: { id: orderId } } });
      status = order.data?.status ?? "missing";
      if (status === "pending_payment") await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe("paid");

    const detail = await admin.GET("/v1/admin/inventory/{sku}", { params: { path: { sku } } });
    expect(detail.data).toMatchObject({ onHand: 1, committed: 2, conservation: { balanced: true } });
    const refused = await shop.POST("/v1/checkout", {
      params: { header: { "idempotency-key": unique("typed-key") } },
      body: {
        items: [{ sku, quantity: 2 }],
        customer: { email: "late@example.com", name: "Late Buyer" },
        payment: { token: "tok_ok" },
      },
    });
    expect(refused.response.status).toBe(409);
    expect(refused.error).toMatchObject({ code: "insufficient_stock" });
  });
});
