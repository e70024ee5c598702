import { describe, expect, it } from "vitest";
import { call, createProduct, unique } from "./helpers";

describe("GET /v1/products/:idOrSlug", () => {
  it("returns the product by id and by slug with the same ETag", async () => {
    const product = await createProduct();
    const byId = await call(`/v1/products/${product.id}`);
    const bySlug = await call(`/v1/products/${product.slug}`);
    expect(byId.status).toBe(200);
    expect(bySlug.status).toBe(200);
    const body = await byId.json();
    expect(body).toEqual(product);
    expect(await bySlug.json()).toEqual(body);
    expect(byId.headers.get("ETag")).toMatch(/^"[0-9a-f]{32}"$/);
    expect(bySlug.headers.get("ETag")).toBe(byId.headers.get("ETag"));
  });

  it("carries Cache-Control with s-maxage and stale-while-revalidate", async () => {
    const product = await createProduct();
    const response = await call(`/v1/products/${product.slug}`);
    const cacheControl = response.headers.get("Cache-Control") ?? "";
    expect(cacheControl).toMatch(/s-maxage=\d+/);
    expect(cacheControl).toMatch(/stale-while-revalidate=\d+/);
  });

  it("answers 304 to If-None-Match with the current ETag, and 200 to a stale one", async () => {
    const product = await createProduct();
    const first = await call(`/v1/products/${product.slug}`);
    const etag = first.headers.get("ETag") ?? "";
    const notModified = await call(`/v1/products/${product.slug}`, { headers: { "If-None-Match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("ETag")).toBe(etag);
    expect(await notModified.text()).toBe("");
    const weak = await call(`/v1/products/${product.slug}`, {
      headers: { "If-None-Match": `"x", W/${etag}` },
    });
    expect(weak.status).toBe(304);
    const other = await call(`/v1/products/${product.slug}`, { headers: { "If-None-Match": '"stale"' } });
    expect(other.status).toBe(200);
  });

  it("answers 404 product_not_found as problem+json for an unknown product", async () => {
    const response = await call(`/v1/products/${unique("nope")}`);
    expect(response.status).toBe(404);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    const problem = await response.json<Record<string, unknown>>();
    expect(problem).toMatchObject({ status: 404, code: "product_not_found", title: expect.any(String) });
    expect(problem.requestId).toBe(response.headers.get("X-Request-Id"));
  });

  it("refuses an over-long id with a 400, not a lookup", async () => {
    const response = await call(`/v1/products/${"a".repeat(300)}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "validation_failed" });
  });
});

describe("GET /v1/products", () => {
  it("pages through a category with an opaque cursor, in a stable order, without repeats", async () => {
    const category = unique("cat");
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await createProduct({ category }));
    await createProduct({ category: unique("other") });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query = new URLSearchParams({ category, limit: "2", ...(cursor ? { cursor } : {}) });
      const response = await call(`/v1/products?${query}`);
      expect(response.status).toBe(200);
      const page = await response.json<{
        items: { id: string; category: string }[];
        nextCursor: string | null;
      }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const item of page.items) {
        expect(item.category).toBe(category);
        seen.push(item.id);
      }
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(created.map((p) => p.id));
  });

  it("defaults to 20 items and answers nextCursor null on the last page", async () => {
    const category = unique("cat");
    await createProduct({ category });
    const response = await call(`/v1/products?category=${category}`);
    const page = await response.json<{ items: unknown[]; nextCursor: string | null }>();
    expect(page.items).toHaveLength(1);
    expect(page.nextCursor).toBeNull();
    const all = await call("/v1/products");
    const allPage = await all.json<{ items: unknown[] }>();
    expect(allPage.items.length).toBeLessThanOrEqual(20);
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=2.5", "limit"],
    ["limit=abc", "limit"],
    ["category=Not%20A%20Slug", "category"],
  ])("refuses %s with validation_failed pointing at the parameter", async (query, path) => {
    const response = await call(`/v1/products?${query}`);
    expect(response.status).toBe(400);
    const problem = await response.json<{ code: string; errors: { path: string; in: string }[] }>();
    expect(problem.code).toBe("validation_failed");
    expect(problem.errors).toContainEqual(expect.objectContaining({ path, in: "query" }));
  });

  it.each(["garbage", btoa("{}"), btoa(JSON.stringify({ after: 1 })), "%00%01"])(
    "refuses a cursor it did not issue (%s) with invalid_cursor",
    async (cursor) => {
      const response = await call(`/v1/products?cursor=${encodeURIComponent(cursor)}`);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: "invalid_cursor" });
    },
  );

  it("answers 304 for an unchanged list page", async () => {
    const category = unique("cat");
    await createProduct({ category });
    const first = await call(`/v1/products?category=${category}`);
    const etag = first.headers.get("ETag") ?? "";
    const again = await call(`/v1/products?category=${category}`, { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
  });
});
