import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { codeUseLine, codeUsesName } from "../../src/inventory/allowances";
import { everyBucket, holdCart, releaseBuckets } from "../../src/inventory/inventory.holds";
import { bucketName } from "../../src/inventory/inventory.service";
import { admin, checkoutBody, objectDown, postCheckout, stockedSku, unique } from "../helpers";

/**
 * A used-up hot code is remembered at the edge for the sold-out TTL (5 s here, as wrangler.toml
 * sets it): late checkouts are refused without walking its buckets, a placed order's retry still
 * gets its 202, and a use given back is offered again once the memo lapses.
 */
const newCode = (prefix: string) =>
  unique(prefix)
    .replaceAll(/[^A-Za-z0-9-]/g, "")
    .slice(0, 40)
    .toUpperCase();

describe("a used-up hot code", () => {
  it("is refused from the edge's memory, never against a placed order's key, and offered again after a use comes back", async () => {
    const code = newCode("gone");
    const created = await admin("POST", "/v1/admin/discounts", {
      code,
      kind: "percentage",
      value: 10,
      maxUses: 4,
      buckets: 4,
    });
    expect(created.status).toBe(201);
    const sku = await stockedSku(50);
    const bodies = new Map<string, unknown>();
    const buy = (key = unique("key")) => {
      const body =
        bodies.get(key) ??
        ({
          ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
          customer: { email: `${unique("gone")}@example.com` },
        } as const);
      bodies.set(key, body);
      return postCheckout(body, key);
    };
    // One use held as an order that will fail would hold it (released below), three by paid orders.
    const createdAt = ((await created.json()) as { createdAt: string }).createdAt;
    const line = await codeUseLine(code, 4, Date.parse(createdAt), { buckets: 4, fresh: true });
    const failing = unique("order");
    expect((await holdCart(env, failing, [line], Date.now() + 600_000)).ok).toBe(true);
    const keys = Array.from({ length: 3 }, () => unique("key"));
    const placed: { id: string }[] = [];
    for (const key of keys) {
      const response = await buy(key);
      expect(response.status).toBe(202);
      placed.push((await response.json()) as { id: string });
    }
    // The fifth walks every bucket and is refused: the edge remembers the code as used up.
    expect((await buy()).status).toBe(409);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const name = await codeUsesName(code);
    const restores = everyBucket(4).map((bucket) =>
      objectDown(bucketName(name, bucket), ["reserveShare", "reserveMany", "release"]),
    );
    try {
      // No bucket is reached (each would throw: 503): the refusal comes from memory.
      const late = await buy();
      expect(late.status).toBe(409);
      const problem = (await late.json()) as { code: string; discount: { limit: string }; remaining: number };
      expect(problem).toMatchObject({
        code: "discount_exhausted",
        discount: { limit: "total" },
        remaining: 0,
      });
      // A placed order's retry under its key is answered its 202, whatever the memo says.
      const retried = await buy(keys[0]);
      expect(retried.status).toBe(202);
      expect(((await retried.json()) as { id: string }).id).toBe(placed[0]?.id);
    } finally {
      for (const restore of restores.reverse()) restore();
    }
    // A use comes back (the order's hold released): offered again once the memo lapses (5 s).
    expect(await releaseBuckets(env, failing, [{ sku: name, buckets: everyBucket(4) }], true)).toBe(true);
    expect((await buy()).status).toBe(409);
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    expect((await buy()).status).toBe(202);
  }, 60_000);
});
