import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../src/app";
import {
  forgetHeldReads,
  heldSize,
  hold,
  readEpoch,
  recall,
  recallOrRefresh,
} from "../src/catalog/catalog.memory";
import { handOnJoins } from "../src/drops/waiting-room";
import {
  admin,
  call,
  checkoutBody,
  counting,
  createProduct,
  postCheckout,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("catalog reads from isolate memory", () => {
  afterEach(() => forgetHeldReads());

  it("answers a product read moments ago without D1, KV or the Cache API", async () => {
    const product = await createProduct();
    await call(`/v1/products/${product.slug}`);
    const d1 = counting(env.DB, ["prepare", "batch", "exec"]);
    const kv = counting(env.CATALOG, ["get", "getWithMetadata"]);
    const match = vi.spyOn(caches.default, "match");
    try {
      for (let i = 0; i < 20; i++) {
        const response = await call(
          `/v1/products/${product.slug}`,
          {},
          { DB: d1.binding, CATALOG: kv.binding },
        );
        expect(response.status).toBe(200);
        expect(response.headers.get("X-Cache-Layer")).toBe("memory");
        expect(await response.json()).toEqual(product);
      }
      expect(match).not.toHaveBeenCalled();
    } finally {
      match.mockRestore();
    }
    expect(d1.calls()).toBe(0);
    expect(kv.calls()).toBe(0);
  });

  it("gives the same answer as the layers behind it: headers, ETag, 304 and request id", async () => {
    const product = await createProduct();
    const edge = await call(`/v1/products/${product.slug}`);
    const held = await call(`/v1/products/${product.slug}`, { headers: { "X-Request-Id": "trace-held" } });
    expect(edge.headers.get("X-Cache-Layer")).not.toBe("memory");
    expect(held.headers.get("X-Cache-Layer")).toBe("memory");
    for (const name of ["ETag", "Cache-Control", "Content-Type"]) {
      expect(held.headers.get(name)).toBe(edge.headers.get(name));
    }
    expect(held.headers.get("X-Request-Id")).toBe("trace-held");
    expect(await held.text()).toBe(await edge.text());

    const etag = held.headers.get("ETag") ?? "";
    const notModified = await call(`/v1/products/${product.slug}`, { headers: { "If-None-Match": etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("X-Cache-Layer")).toBe("memory");
    expect(notModified.headers.get("X-Request-Id")).toMatch(/^[0-9A-Z]{26}$/);
    expect(await notModified.text()).toBe("");
  });

  it("forgets everything on a write through this isolate, so the next read is fresh", async () => {
    const product = await createProduct();
    const category = product.category;
    await call(`/v1/products/${product.slug}`);
    await call(`/v1/products/${product.id}`);
    const { id, updatedAt, ...input } = product;
    expect((await admin("PUT", `/v1/admin/products/${id}`, { ...input, title: "Held no more" })).status).toBe(
      200,
    );
    for (const key of [product.slug, product.id]) {
      const read = await call(`/v1/products/${key}`);
      expect(read.headers.get("X-Cache-Layer")).not.toBe("memory");
      expect((await read.json<{ title: string }>()).title).toBe("Held no more");
    }
    const page = await call(`/v1/products?category=${category}&limit=100`);
    expect(JSON.stringify(await page.json())).toContain("Held no more");
  });

  it("holds a read for CATALOG_MEMORY_TTL_MS only, and not at all when it is 0", async () => {
    const product = await createProduct();
    const short = { CATALOG_MEMORY_TTL_MS: "30" };
    await call(`/v1/products/${product.slug}`, {}, short);
    expect((await call(`/v1/products/${product.slug}`, {}, short)).headers.get("X-Cache-Layer")).toBe(
      "memory",
    );
    await sleep(60);
    expect((await call(`/v1/products/${product.slug}`, {}, short)).headers.get("X-Cache-Layer")).toBe(
      "cache",
    );

    const other = await createProduct();
    const off = { CATALOG_MEMORY_TTL_MS: "0" };
    for (let i = 0; i < 3; i++) {
      const read = await call(`/v1/products/${other.slug}`, {}, off);
      expect(read.headers.get("X-Cache-Layer")).not.toBe("memory");
    }
  });

  it("sends one read per window to the layers behind, however many arrive as it closes", async () => {
    const product = await createProduct();
    const short = { CATALOG_MEMORY_TTL_MS: "30" };
    await call(`/v1/products/${product.slug}`, {}, short);
    await sleep(60);
    const match = vi.spyOn(caches.default, "match");
    try {
      const reads = await Promise.all(
        Array.from({ length: 20 }, () => call(`/v1/products/${product.slug}`, {}, short)),
      );
      expect(reads.every((read) => read.status === 200)).toBe(true);
      const layers = reads.map((read) => read.headers.get("X-Cache-Layer"));
      expect(layers.filter((layer) => layer === "cache")).toHaveLength(1);
      expect(layers.filter((layer) => layer === "memory")).toHaveLength(19);
      expect(match).toHaveBeenCalledTimes(1);
      for (const read of reads) expect(await read.json()).toEqual(product);
    } finally {
      match.mockRestore();
    }
  });

  it("answers past a held read's window only while one read refreshes it, and never 2 s past it", () => {
    const entry = { body: "{}", etag: '"e"', storedAt: 0 };
    hold("product:grace", entry, 100, readEpoch(), 1_000);
    expect(recall("product:grace", 1_050)).toBe(entry);
    // The window closed: nobody refreshes yet, so nothing is answered from memory...
    expect(recall("product:grace", 1_150)).toBeUndefined();
    // ...until one read claims the refresh; the others are answered meanwhile.
    expect(recallOrRefresh("product:grace", 1_150)).toBeUndefined();
    expect(recall("product:grace", 1_200)).toBe(entry);
    expect(recallOrRefresh("product:grace", 1_300)).toBe(entry);
    // That refresh failed (nothing was held): 250 ms after it began, the next read refreshes...
    expect(recall("product:grace", 1_400)).toBeUndefined();
    expect(recallOrRefresh("product:grace", 1_400)).toBeUndefined();
    expect(recall("product:grace", 1_500)).toBe(entry);
    // ...and however many refreshes fail, the old copy is not answered 2 s past its window.
    for (let at = 1_650; at < 3_100; at += 240) recallOrRefresh("product:grace", at);
    expect(recall("product:grace", 3_100)).toBeUndefined();
    expect(recallOrRefresh("product:grace", 3_101)).toBeUndefined();
    expect(recall("product:grace", 3_102)).toBeUndefined();
  });

  it("holds at most 8 Mi characters of bodies, the oldest giving way, whatever list pages clients ask for", () => {
    const page = (i: number) => ({ body: `${i}`.padEnd(1024 * 1024, "x"), etag: `"${i}"`, storedAt: 0 });
    for (let i = 0; i < 20; i++) hold(`list:page-${i}`, page(i), 60_000, readEpoch());
    expect(heldSize().chars).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(recall("list:page-19")).toEqual(page(19));
    expect(recall("list:page-0")).toBeUndefined();
    // One body larger than the whole budget is not held at all, and pushes nothing out.
    const before = heldSize();
    hold("list:huge", { body: "x".repeat(9 * 1024 * 1024), etag: '"h"', storedAt: 0 }, 60_000, readEpoch());
    expect(recall("list:huge")).toBeUndefined();
    expect(heldSize()).toEqual(before);
  });

  it("remembers a missing product too, and still answers it with the routed 404", async () => {
    const slug = unique("absent");
    const d1 = counting(env.DB, ["prepare", "batch", "exec"]);
    for (let i = 0; i < 5; i++) {
      const response = await call(`/v1/products/${slug}`, {}, { DB: d1.binding });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: "product_not_found" });
    }
    expect(d1.calls()).toBe(1);
  });

  it("leaves unusual requests to the router: escaped slugs, extra path segments, HEAD", async () => {
    const product = await createProduct();
    await call(`/v1/products/${product.slug}`);
    const escaped = await call(`/v1/products/${encodeURIComponent(product.slug).replace("p", "%70")}`);
    expect(escaped.status).toBe(200);
    expect(await escaped.json()).toEqual(product);
    expect((await call(`/v1/products/${product.slug}/extra`)).status).toBe(404);
    const head = await call(`/v1/products/${product.slug}`, { method: "HEAD" });
    expect(head.status).toBe(200);
  });
});

describe("sold-out refusals from isolate memory", () => {
  async function soldOutSku() {
    const sku = await stockedSku(1);
    expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }]))).status).toBe(202);
    expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }]))).status).toBe(409);
    return sku;
  }

  it("refuses a checkout of a known sold-out SKU with the routed answer, asking only the key's shard", async () => {
    const sku = await soldOutSku();
    const d1 = counting(env.DB, ["prepare", "batch", "exec"]);
    const objects = counting(env.INVENTORY, ["getByName", "get", "idFromName"]);
    const limiter = counting(env.CHECKOUT_LIMITER, ["limit"]);
    const shards = counting(env.ORDERS, ["getByName"]);
    const bindings = {
      DB: d1.binding,
      INVENTORY: objects.binding,
      CHECKOUT_LIMITER: limiter.binding,
      ORDERS: shards.binding,
    };
    for (let i = 0; i < 20; i++) {
      const response = await postCheckout(
        checkoutBody([{ sku, quantity: 2 }]),
        unique("late"),
        { "X-Request-Id": `late-${i}` },
        bindings,
      );
      expect(response.status).toBe(409);
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      expect(response.headers.get("Cache-Control")).toBe("no-store");
      expect(response.headers.get("X-Request-Id")).toBe(`late-${i}`);
      expect(await response.json()).toEqual({
        type: "https://stampede.dev/problems/insufficient-stock",
        title: "Insufficient stock",
        status: 409,
        detail: "Some items do not have enough stock; nothing was held",
        code: "insufficient_stock",
        requestId: `late-${i}`,
        skus: [{ sku, requested: 2, available: 0 }],
      });
    }
    expect(d1.calls() + objects.calls() + limiter.calls()).toBe(0);
    expect(shards.calls()).toBe(20);
    // Only the first buyer's unit is held.
    expect((await stockOf(sku)).holds).toHaveLength(1);
  });

  it("sends the retry of a placed order on, so it gets its 202 back rather than a refusal", async () => {
    const sku = await stockedSku(1);
    const key = unique("placed");
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_down");
    const placed = await postCheckout(body, key);
    expect(placed.status).toBe(202);
    expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }]))).status).toBe(409);
    const retry = await postCheckout(body, key);
    expect(retry.status).toBe(202);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await retry.text()).toBe(await placed.text());
  });

  it("sends every other checkout on with its body intact", async () => {
    const gone = await soldOutSku();
    const inStock = await stockedSku(5);

    const mixed = await postCheckout(
      checkoutBody([
        { sku: gone, quantity: 1 },
        { sku: inStock, quantity: 9 },
      ]),
    );
    expect(mixed.status).toBe(409);
    expect((await mixed.json<{ skus: unknown[] }>()).skus).toEqual([
      { sku: gone, requested: 1, available: 0 },
      { sku: inStock, requested: 9, available: 5 },
    ]);

    const invalid = await postCheckout({ ...checkoutBody([{ sku: gone, quantity: 0 }]) });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ code: "validation_failed" });
    const unknownField = await postCheckout({ ...checkoutBody([{ sku: gone, quantity: 1 }]), coupon: "x" });
    expect(unknownField.status).toBe(400);
    const noKey = await postCheckout(checkoutBody([{ sku: gone, quantity: 1 }]), null);
    expect(await noKey.json()).toMatchObject({ code: "idempotency_key_missing" });
    const malformed = await postCheckout('{"items": [');
    expect(await malformed.json()).toMatchObject({ code: "invalid_json" });

    const bought = await postCheckout(checkoutBody([{ sku: inStock, quantity: 2 }]));
    expect(bought.status).toBe(202);
    expect(await bought.json()).toMatchObject({ items: [{ sku: inStock, quantity: 2 }] });
  });
});

describe("drop ticket status from isolate memory", () => {
  afterEach(() => forgetHeldReads());

  it("answers a ticket's standing without the router, as the router would; anything unusual goes on", async () => {
    const product = await createProduct({
      saleStartsAt: new Date(Date.now() + 60_000).toISOString(),
      waitingRoom: { admitPerMinute: 60 },
    });
    const joined = await call(`/v1/drops/${product.id}/tickets`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: `${unique("hot")}@example.com` }),
    });
    const { ticket } = await joined.json<{ ticket: string }>();
    await handOnJoins(env, true);
    const status = (token: string) =>
      call(`/v1/drops/${product.id}/status`, { headers: { Authorization: `Bearer ${token}` } });

    forgetHeldReads();
    const router = vi.spyOn(app, "fetch");
    try {
      // Nothing held: the router answers, and holds the product for the next poll.
      const routed = await status(ticket);
      expect(router).toHaveBeenCalledTimes(1);
      router.mockClear();
      const held = await status(ticket);
      expect(router).not.toHaveBeenCalled();
      expect(held.status).toBe(200);
      expect(held.headers.get("Content-Type")).toBe(routed.headers.get("Content-Type"));
      expect(held.headers.get("Cache-Control")).toBe("no-store");
      expect(held.headers.get("X-Request-Id")).toBeTruthy();
      const [a, b] = [
        await routed.json<Record<string, unknown>>(),
        await held.json<Record<string, unknown>>(),
      ];
      expect({ ...b, pollAfterSeconds: 0 }).toEqual({ ...a, pollAfterSeconds: 0 });

      // A forged ticket gets the routed problem.
      const forged = await status(`${ticket.slice(0, -4)}AAAA`);
      expect(forged.status).toBe(403);
      expect(forged.headers.get("Content-Type")).toContain("application/problem+json");
      expect(router).toHaveBeenCalledTimes(1);
    } finally {
      router.mockRestore();
    }
  });
});

describe("request log sampling", () => {
  afterEach(() => forgetHeldReads());

  async function linesFor(requestId: string, run: () => Promise<unknown>) {
    const log = vi.spyOn(console, "log");
    try {
      await run();
      return log.mock.calls.map(([line]) => String(line)).filter((line) => line.includes(`"${requestId}"`));
    } finally {
      log.mockRestore();
    }
  }

  it("samples routine answers at ACCESS_LOG_SAMPLE_RATE and always logs the rest", async () => {
    const product = await createProduct();
    await call(`/v1/products/${product.slug}`);
    const read = (rate: string, id: string) =>
      call(
        `/v1/products/${product.slug}`,
        { headers: { "X-Request-Id": id } },
        { ACCESS_LOG_SAMPLE_RATE: rate },
      );
    expect(await linesFor("never", () => read("0", "never"))).toHaveLength(0);
    const always = await linesFor("always", () => read("1", "always"));
    expect(always).toHaveLength(1);
    expect(JSON.parse(always[0] ?? "")).toMatchObject({
      msg: "request",
      status: 200,
      cache: "memory",
      sampled: 1,
    });
    const missing = await linesFor("a-miss", () =>
      call(
        `/v1/products/${unique("none")}`,
        { headers: { "X-Request-Id": "a-miss" } },
        { ACCESS_LOG_SAMPLE_RATE: "0" },
      ),
    );
    expect(missing).toHaveLength(1);
  });
});
