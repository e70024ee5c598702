import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN, admin, call, createProduct, JSON_HEADERS, unique } from "./helpers";

async function stockedSku(onHand: number): Promise<string> {
  const product = await createProduct();
  const sku = product.variants[0]?.sku ?? "";
  expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand })).status).toBe(200);
  return sku;
}

describe("inventory endpoints", () => {
  it("sets stock and reads it publicly and as an admin", async () => {
    const sku = await stockedSku(42);
    const pub = await call(`/v1/inventory/${sku}`);
    expect(pub.status).toBe(200);
    expect(await pub.json()).toEqual({ sku, available: 42, status: "in_stock" });
    const detail = await admin("GET", `/v1/admin/inventory/${sku}`);
    expect(await detail.json()).toMatchObject({
      sku,
      onHand: 42,
      reserved: 0,
      available: 42,
      committed: 0,
      holds: [],
    });
  });

  it.each([
    [0, "sold_out"],
    [10, "low_stock"],
    [11, "in_stock"],
  ])("reports %i available as %s", async (onHand, status) => {
    const sku = await stockedSku(onHand);
    expect(await (await call(`/v1/inventory/${sku}`)).json()).toMatchObject({ status });
  });

  it("adjusts stock up and down with a reason, refusing to go below zero", async () => {
    const sku = await stockedSku(5);
    const up = await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, { delta: 3, reason: "return" });
    expect(await up.json()).toMatchObject({ onHand: 8, available: 8 });
    const down = await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, {
      delta: -9,
      reason: "shrinkage",
    });
    expect(down.status).toBe(409);
    expect(await down.json()).toMatchObject({ code: "stock_below_reserved" });
    expect(await (await admin("GET", `/v1/admin/inventory/${sku}`)).json()).toMatchObject({ onHand: 8 });
  });

  it("makes an adjustment sent with an Idempotency-Key once, however often it is repeated", async () => {
    const sku = await stockedSku(5);
    const adjust = (body: unknown, key: string) =>
      call(`/v1/admin/inventory/${sku}/adjustments`, {
        method: "POST",
        headers: { ...ADMIN, ...JSON_HEADERS, "Idempotency-Key": key },
        body: JSON.stringify(body),
      });
    const key = unique("restock");
    const first = await adjust({ delta: 4, reason: "delivery" }, key);
    const again = await adjust({ delta: 4, reason: "delivery" }, key);
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(await again.json()).toMatchObject({ onHand: 9, conservation: { adjusted: 4 } });
    const other = await adjust({ delta: 5, reason: "delivery" }, key);
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ code: "idempotency_key_mismatch" });
    expect((await adjust({ delta: 1, reason: "x" }, "bad key")).status).toBe(400);
    expect(await (await admin("GET", `/v1/admin/inventory/${sku}`)).json()).toMatchObject({ onHand: 9 });
  });

  it("answers 404 sku_not_found for a SKU the catalog does not have, creating nothing", async () => {
    const sku = unique("GHOST").toUpperCase();
    const set = await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 5 });
    expect(set.status).toBe(404);
    expect(await set.json()).toMatchObject({ code: "sku_not_found" });
    expect((await call(`/v1/inventory/${sku}`)).status).toBe(404);
    expect(await env.INVENTORY.getByName(sku).snapshot()).toBeNull();
  });

  it.each([
    ["a negative count", { onHand: -1 }],
    ["a fractional count", { onHand: 1.5 }],
    ["a huge count", { onHand: 1e12 }],
    ["a string count", { onHand: "5" }],
    ["an unknown field", { onHand: 5, buckets: "lots", extra: true }],
    ["no count", {}],
    ["zero buckets", { onHand: 5, buckets: 0 }],
    ["too many buckets", { onHand: 5, buckets: 33 }],
    ["fractional buckets", { onHand: 5, buckets: 1.5 }],
    ["string buckets", { onHand: 5, buckets: "4" }],
  ])("refuses %s on PUT with 400 and leaves the stock as it was", async (_, body) => {
    const sku = await stockedSku(7);
    const response = await admin("PUT", `/v1/admin/inventory/${sku}`, body);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "validation_failed" });
    expect(await (await admin("GET", `/v1/admin/inventory/${sku}`)).json()).toMatchObject({ onHand: 7 });
  });

  it.each([
    ["a zero delta", { delta: 0, reason: "noop" }],
    ["no reason", { delta: 1 }],
    ["a blank reason", { delta: 1, reason: "  " }],
    ["a fractional delta", { delta: 0.5, reason: "x" }],
    ["an unknown field", { delta: 1, reason: "x", onHand: 100 }],
  ])("refuses %s on adjustments with 400 and leaves the stock as it was", async (_, body) => {
    const sku = await stockedSku(7);
    const response = await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, body);
    expect(response.status).toBe(400);
    expect(await (await admin("GET", `/v1/admin/inventory/${sku}`)).json()).toMatchObject({ onHand: 7 });
  });

  it("refuses a malformed SKU in the path with 400", async () => {
    const response = await call(`/v1/inventory/${encodeURIComponent("bad sku!")}`);
    expect(response.status).toBe(400);
  });
});
