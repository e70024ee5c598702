import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN, admin, call, createProduct, JSON_HEADERS, productInput, unique } from "./helpers";

async function productCount(): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM products").first<{ n: number }>();
  return row?.n ?? 0;
}

async function variantCount(): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM variants").first<{ n: number }>();
  return row?.n ?? 0;
}

describe("admin auth", () => {
  it.each([
    ["no Authorization header", {}],
    ["a wrong token", { Authorization: "Bearer wrong-token" }],
    ["a token with a matching prefix", { Authorization: `Bearer ${env.ADMIN_TOKEN}x` }],
    ["another scheme", { Authorization: `Basic ${env.ADMIN_TOKEN}` }],
    ["an empty bearer", { Authorization: "Bearer " }],
  ])("answers 401 unauthorized to %s and changes nothing", async (_, headers) => {
    const before = await productCount();
    const response = await call("/v1/admin/products", {
      method: "POST",
      headers: { ...headers, ...JSON_HEADERS },
      body: JSON.stringify(productInput()),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
    expect(await response.json()).toMatchObject({ code: "unauthorized", status: 401 });
    expect(await productCount()).toBe(before);
  });

  it("guards every admin route, reads included", async () => {
    for (const [method, path] of [
      ["GET", "/v1/admin/inventory/ANY"],
      ["PUT", "/v1/admin/products/ANY"],
      ["DELETE", "/v1/admin/products/ANY"],
    ] as const) {
      expect((await call(path, { method })).status).toBe(401);
    }
  });

  it("locks the admin API when no token is configured", async () => {
    const response = await call("/v1/admin/inventory/ANY", { headers: ADMIN }, { ADMIN_TOKEN: "" });
    expect(response.status).toBe(401);
  });
});

describe("POST /v1/admin/products", () => {
  it("creates a product with a ULID id, returns 201 with Location, and defaults optional fields", async () => {
    const { description, images, ...input } = productInput();
    const response = await admin("POST", "/v1/admin/products", input);
    expect(response.status).toBe(201);
    const product = await response.json<Record<string, unknown>>();
    expect(product.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(product).toMatchObject({ ...input, description: "", images: [] });
    expect(new Date(String(product.updatedAt)).toISOString()).toBe(product.updatedAt);
    expect(response.headers.get("Location")).toBe(`/v1/products/${product.id}`);
  });

  it("answers 409 slug_taken for a slug in use, and leaves both tables as they were", async () => {
    const existing = await createProduct();
    const [products, variants] = [await productCount(), await variantCount()];
    const response = await admin("POST", "/v1/admin/products", productInput({ slug: existing.slug }));
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ code: "slug_taken", slug: existing.slug });
    expect([await productCount(), await variantCount()]).toEqual([products, variants]);
  });

  it("answers 409 sku_taken naming the SKU and its product, and writes no product row", async () => {
    const existing = await createProduct();
    const before = await productCount();
    const input = productInput();
    const sku = existing.variants[0]?.sku ?? "";
    const response = await admin("POST", "/v1/admin/products", {
      ...input,
      variants: [...input.variants, { ...existing.variants[0], title: "Copy" }],
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({
      code: "sku_taken",
      detail: `SKU "${sku}" belongs to product "${existing.slug}"`,
      skus: [sku],
    });
    expect(await productCount()).toBe(before);
    expect((await call(`/v1/products/${input.slug}`)).status).toBe(404);
  });

  it("stores products with many variants (more than one D1 statement can bind)", async () => {
    const base = unique("MANY").toUpperCase();
    const variants = Array.from({ length: 50 }, (_, i) => ({
      sku: `${base}-${i}`,
      title: `V${i}`,
      price: { amount: 100 + i, currency: "USD" },
      attributes: { n: String(i) },
    }));
    const product = await createProduct({ variants });
    const read = await call(`/v1/products/${product.id}`);
    const body = await read.json<{ variants: { sku: string }[] }>();
    expect(body.variants.map((v) => v.sku)).toEqual(variants.map((v) => v.sku));
  });

  const hostile: [string, (input: ReturnType<typeof productInput>) => unknown, string][] = [
    ["an unknown top-level field", (p) => ({ ...p, id: "01HACKED" }), "id"],
    [
      "an unknown variant field",
      (p) => ({ ...p, variants: [{ ...p.variants[0], stock: 5 }] }),
      "variants.0.stock",
    ],
    [
      "a float price",
      (p) => ({ ...p, variants: [{ ...p.variants[0], price: { amount: 19.99, currency: "USD" } }] }),
      "variants.0.price.amount",
    ],
    [
      "a negative price",
      (p) => ({ ...p, variants: [{ ...p.variants[0], price: { amount: -1, currency: "USD" } }] }),
      "variants.0.price.amount",
    ],
    [
      "a huge price",
      (p) => ({ ...p, variants: [{ ...p.variants[0], price: { amount: 1e20, currency: "USD" } }] }),
      "variants.0.price.amount",
    ],
    [
      "a lowercase currency",
      (p) => ({ ...p, variants: [{ ...p.variants[0], price: { amount: 1, currency: "usd" } }] }),
      "variants.0.price.currency",
    ],
    [
      "a string price",
      (p) => ({ ...p, variants: [{ ...p.variants[0], price: { amount: "1999", currency: "USD" } }] }),
      "variants.0.price.amount",
    ],
    ["no variants", (p) => ({ ...p, variants: [] }), "variants"],
    ["a duplicate SKU", (p) => ({ ...p, variants: [p.variants[0], p.variants[0]] }), "variants.1.sku"],
    ["a SKU with spaces", (p) => ({ ...p, variants: [{ ...p.variants[0], sku: "A B" }] }), "variants.0.sku"],
    ["an uppercase slug", (p) => ({ ...p, slug: "Not-OK" }), "slug"],
    ["a script URL image", (p) => ({ ...p, images: ["javascript:alert(1)"] }), "images.0"],
    ["a blank title", (p) => ({ ...p, title: "   " }), "title"],
  ];

  it.each(hostile)(
    "refuses %s with 400 validation_failed at the field, and stores nothing",
    async (_, mutate, path) => {
      const input = productInput();
      const before = await productCount();
      const response = await admin("POST", "/v1/admin/products", mutate(input));
      expect(response.status).toBe(400);
      const problem = await response.json<{ code: string; errors: { path: string }[] }>();
      expect(problem.code).toBe("validation_failed");
      expect(problem.errors.map((e) => e.path)).toContain(path);
      expect(await productCount()).toBe(before);
    },
  );

  it.each([
    ["malformed JSON", "{not json", JSON_HEADERS, 400, "invalid_json"],
    ["a JSON array", "[]", JSON_HEADERS, 400, "validation_failed"],
    ["JSON null", "null", JSON_HEADERS, 400, "validation_failed"],
    [
      "a form body",
      "slug=x",
      { "Content-Type": "application/x-www-form-urlencoded" },
      415,
      "unsupported_media_type",
    ],
    ["no content type", "{}", {}, 415, "unsupported_media_type"],
  ])("refuses %s with %i %s", async (_, body, headers, status, code) => {
    const before = await productCount();
    const response = await call("/v1/admin/products", {
      method: "POST",
      headers: { ...ADMIN, ...headers },
      body,
    });
    expect(response.status).toBe(status);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({ code });
    expect(await productCount()).toBe(before);
  });

  it("refuses a body over 64 KiB with 413 payload_too_large", async () => {
    const before = await productCount();
    const body = JSON.stringify(productInput({ description: "x".repeat(70 * 1024) }));
    const response = await call("/v1/admin/products", {
      method: "POST",
      headers: { ...ADMIN, ...JSON_HEADERS },
      body,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "payload_too_large" });
    expect(await productCount()).toBe(before);
  });

  it("refuses an oversize body sent without Content-Length (chunked)", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(16 * 1024));
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 6; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const response = await call("/v1/admin/products", {
      method: "POST",
      headers: { ...ADMIN, ...JSON_HEADERS },
      body: stream,
    });
    expect(response.status).toBe(413);
  });
});

describe("PUT /v1/admin/products/:id", () => {
  it("replaces the product and its variants", async () => {
    const product = await createProduct();
    const { id, updatedAt, ...input } = product;
    const sku = unique("NEW").toUpperCase();
    const replacement = {
      ...input,
      title: "Replaced",
      variants: [{ sku, title: "Only", price: { amount: 500, currency: "EUR" }, attributes: {} }],
    };
    const response = await admin("PUT", `/v1/admin/products/${id}`, replacement);
    expect(response.status).toBe(200);
    const body = await response.json<Record<string, unknown>>();
    expect(body).toMatchObject({ id, ...replacement });
    expect(body.updatedAt).not.toBe(updatedAt);
    const old = await env.DB.prepare("SELECT sku FROM variants WHERE sku = ?")
      .bind(product.variants[0]?.sku)
      .first();
    expect(old).toBeNull();
  });

  it("answers 404 product_not_found for an unknown or archived id, and writes nothing", async () => {
    const product = await createProduct();
    await admin("DELETE", `/v1/admin/products/${product.id}`);
    const before = await variantCount();
    for (const id of [product.id, "01JUNKNOWN0000000000000000"]) {
      const response = await admin("PUT", `/v1/admin/products/${id}`, productInput());
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: "product_not_found" });
    }
    expect(await variantCount()).toBe(before);
  });

  it("keeps the product whole when the replacement takes another product's SKU", async () => {
    const other = await createProduct();
    const product = await createProduct();
    const { id, updatedAt, ...input } = product;
    const response = await admin("PUT", `/v1/admin/products/${id}`, {
      ...input,
      title: "Should not land",
      variants: [{ ...other.variants[0] }],
    });
    expect(response.status).toBe(409);
    // Its own SKUs are not named: only the one another product has.
    expect(await response.json()).toMatchObject({ code: "sku_taken", skus: [other.variants[0]?.sku] });
    const read = await call(`/v1/products/${id}`);
    expect(await read.json()).toEqual(product);
    const row = await env.DB.prepare("SELECT title FROM products WHERE id = ?")
      .bind(id)
      .first<{ title: string }>();
    expect(row?.title).toBe(product.title);
    const variants = await env.DB.prepare("SELECT sku FROM variants WHERE product_id = ?").bind(id).all();
    expect(variants.results).toEqual([{ sku: product.variants[0]?.sku }]);
  });
});

describe("DELETE /v1/admin/products/:id", () => {
  it("archives (the row stays, public reads stop) and a second delete answers 404", async () => {
    const product = await createProduct();
    expect((await admin("DELETE", `/v1/admin/products/${product.id}`)).status).toBe(204);
    const row = await env.DB.prepare("SELECT status FROM products WHERE id = ?").bind(product.id).first();
    expect(row).toEqual({ status: "archived" });
    const again = await admin("DELETE", `/v1/admin/products/${product.id}`);
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ code: "product_not_found" });
  });
});
