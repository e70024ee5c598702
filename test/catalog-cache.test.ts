import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EdgeLayers } from "../src/catalog/catalog.cache";
import { admin, brokenD1, call, counting, createProduct, productInput, unique } from "./helpers";

type Page = { items: { id: string; title: string }[] };

/** These tests look at the layers behind isolate memory, so memory holds nothing for them. */
const EDGE_ONLY = { CATALOG_MEMORY_TTL_MS: "0" };

/** Drops a product's Cache API entries at this location, as their TTL running out would. */
async function expireEdgeCopies(...keys: string[]) {
  const edge = new EdgeLayers({ kv: env.CATALOG, origin: "https://shop.example", edgeTtlSeconds: 30 });
  await Promise.all(keys.map((key) => edge.cacheDelete(`product:${key}`)));
}

describe("catalog read path: Cache API -> KV -> D1", () => {
  it("serves repeated product reads without touching D1 or KV", async () => {
    const product = await createProduct();
    const d1 = counting(env.DB, ["prepare", "batch", "exec"]);
    const kv = counting(env.CATALOG, ["get", "getWithMetadata"]);
    for (let i = 0; i < 20; i++) {
      const response = await call(
        `/v1/products/${product.slug}`,
        {},
        { ...EDGE_ONLY, DB: d1.binding, CATALOG: kv.binding },
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("X-Cache-Layer")).toBe("cache");
    }
    expect(d1.calls()).toBe(0);
    expect(kv.calls()).toBe(0);
  });

  it("reads D1 once for a cold list page, then serves it from the Cache API", async () => {
    const category = unique("cat");
    await createProduct({ category });
    const d1 = counting(env.DB, ["prepare", "batch", "exec"]);
    const layers: (string | null)[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await call(`/v1/products?category=${category}`, {}, { ...EDGE_ONLY, DB: d1.binding });
      layers.push(response.headers.get("X-Cache-Layer"));
    }
    expect(layers[0]).toBe("d1");
    expect(new Set(layers.slice(1))).toEqual(new Set(["cache"]));
    const afterFirst = d1.calls();
    expect(afterFirst).toBeGreaterThan(0);
    expect(afterFirst).toBeLessThanOrEqual(2);
  });

  it("falls back to KV when the Cache API copy is gone, and refills the Cache API from it", async () => {
    const product = await createProduct();
    await expireEdgeCopies(product.slug);
    const d1 = counting(env.DB, ["prepare", "batch", "exec"]);
    const first = await call(`/v1/products/${product.slug}`, {}, { ...EDGE_ONLY, DB: d1.binding });
    expect(first.headers.get("X-Cache-Layer")).toBe("kv");
    const second = await call(`/v1/products/${product.slug}`, {}, { ...EDGE_ONLY, DB: d1.binding });
    expect(second.headers.get("X-Cache-Layer")).toBe("cache");
    expect(d1.calls()).toBe(0);
  });

  it("reads through to D1 when neither edge layer has the product, and fills both", async () => {
    const product = await createProduct();
    await expireEdgeCopies(product.slug, product.id);
    await env.CATALOG.delete(`product:${product.slug}`);
    const cold = await call(`/v1/products/${product.slug}`, {}, EDGE_ONLY);
    expect(cold.headers.get("X-Cache-Layer")).toBe("d1");
    expect(await cold.json()).toEqual(product);
    expect(await env.CATALOG.get(`product:${product.slug}`, "json")).toMatchObject({
      body: JSON.stringify(product),
    });
    const warm = await call(`/v1/products/${product.slug}`, {}, EDGE_ONLY);
    expect(warm.headers.get("X-Cache-Layer")).toBe("cache");
    expect(warm.headers.get("ETag")).toBe(cold.headers.get("ETag"));
  });

  it("remembers a miss for a while, so unknown products do not reach D1 on every read", async () => {
    const slug = unique("missing");
    const d1 = counting(env.DB, ["prepare", "batch", "exec"]);
    for (let i = 0; i < 5; i++) {
      expect((await call(`/v1/products/${slug}`, {}, { DB: d1.binding })).status).toBe(404);
    }
    expect(d1.calls()).toBe(1);
  });
});

describe("catalog writes are visible on the next read at the same location", () => {
  it("shows an update on the next product and list read, with a new ETag", async () => {
    const category = unique("cat");
    const product = await createProduct({ category });
    const before = await call(`/v1/products/${product.slug}`);
    const listBefore = await call(`/v1/products?category=${category}`);
    expect(((await listBefore.json()) as Page).items[0]?.title).toBe(product.title);

    const { id, updatedAt, ...input } = product;
    const updated = await admin("PUT", `/v1/admin/products/${id}`, { ...input, title: "Renamed" });
    expect(updated.status).toBe(200);

    const after = await call(`/v1/products/${product.slug}`);
    expect(((await after.json()) as { title: string }).title).toBe("Renamed");
    expect(after.headers.get("ETag")).not.toBe(before.headers.get("ETag"));
    const byId = await call(`/v1/products/${id}`);
    expect(((await byId.json()) as { title: string }).title).toBe("Renamed");
    const listAfter = await call(`/v1/products?category=${category}`);
    expect(((await listAfter.json()) as Page).items[0]?.title).toBe("Renamed");
  });

  it("retires the old slug when a product is renamed, and serves the new one", async () => {
    const product = await createProduct();
    await call(`/v1/products/${product.slug}`);
    const { id, updatedAt, ...input } = product;
    const newSlug = unique("renamed");
    expect((await admin("PUT", `/v1/admin/products/${id}`, { ...input, slug: newSlug })).status).toBe(200);
    expect((await call(`/v1/products/${product.slug}`)).status).toBe(404);
    expect((await call(`/v1/products/${newSlug}`)).status).toBe(200);
  });

  it("shows a created product in a list page that was already cached", async () => {
    const category = unique("cat");
    const first = await createProduct({ category });
    const cached = await call(`/v1/products?category=${category}`);
    expect(((await cached.json()) as Page).items).toHaveLength(1);
    const second = await createProduct({ category });
    const fresh = await call(`/v1/products?category=${category}`);
    expect(((await fresh.json()) as Page).items.map((item) => item.id)).toEqual([first.id, second.id]);
  });

  it("shows a product that was read as missing once it is created under that slug", async () => {
    const input = productInput();
    expect((await call(`/v1/products/${input.slug}`)).status).toBe(404);
    expect((await admin("POST", "/v1/admin/products", input)).status).toBe(201);
    expect((await call(`/v1/products/${input.slug}`)).status).toBe(200);
  });

  it("removes an archived product from every read", async () => {
    const category = unique("cat");
    const product = await createProduct({ category });
    await call(`/v1/products/${product.slug}`);
    await call(`/v1/products?category=${category}`);
    expect((await admin("DELETE", `/v1/admin/products/${product.id}`)).status).toBe(204);
    expect((await call(`/v1/products/${product.slug}`)).status).toBe(404);
    expect((await call(`/v1/products/${product.id}`)).status).toBe(404);
    const list = await call(`/v1/products?category=${category}`);
    expect(((await list.json()) as Page).items).toEqual([]);
  });
});

describe("stale-if-error: D1 down does not take the catalog down", () => {
  // Every KV copy counts as stale, so each read that misses the Cache API asks D1 first.
  const staleKv = { CATALOG_KV_FRESH_SECONDS: "0" } as Partial<Env>;

  it("serves the last good product copy when D1 throws", async () => {
    const product = await createProduct();
    await expireEdgeCopies(product.slug);
    const response = await call(`/v1/products/${product.slug}`, {}, { ...staleKv, DB: brokenD1 });
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Cache-Layer")).toBe("stale");
    expect(await response.json()).toEqual(product);
  });

  it("serves the last good list page when D1 throws after the catalog changed", async () => {
    const category = unique("cat");
    const product = await createProduct({ category });
    const good = await call(`/v1/products?category=${category}`);
    expect(good.status).toBe(200);
    await createProduct({ category: unique("elsewhere") });
    const response = await call(`/v1/products?category=${category}`, {}, { ...staleKv, DB: brokenD1 });
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Cache-Layer")).toBe("stale");
    expect(((await response.json()) as Page).items.map((item) => item.id)).toEqual([product.id]);
  });

  it("answers 503 service_unavailable when D1 throws and no copy exists anywhere", async () => {
    const response = await call(`/v1/products/${unique("never-seen")}`, {}, { DB: brokenD1 });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: "service_unavailable" });
  });
});
