import { describe, expect, it } from "vitest";
import { heldSize } from "../src/catalog/catalog.memory";
import { EdgeMemo, MAX_CHARS, MAX_ENTRIES, memoSize, peekMemo } from "../src/shared/edge-memo";
import { call, checkoutBody, JSON_HEADERS, unique } from "./helpers";

/** A Cache API that forgets everything at once: only the isolate's memory is measured. */
const nowhere = {
  match: async () => undefined,
  put: async () => undefined,
  delete: async () => false,
} as unknown as Cache;

const refusingLimiter = { limit: async () => ({ success: false }) } as unknown as RateLimit;

describe("per-isolate memory", () => {
  it("stays within its entry and size bounds under 100,000 distinct SKUs", { timeout: 120_000 }, async () => {
    const soldOut = new EdgeMemo("bound-sold-out", "https://shop.example", { cache: nowhere });
    const layout = new EdgeMemo("bound-layout", "https://shop.example", { cache: nowhere });
    const now = Date.now();
    for (let i = 0; i < 100_000; i++) {
      const sku = `SKU-${i.toString(36).padStart(8, "0")}-${"X".repeat(40)}`;
      await soldOut.put(sku, "1", 300, now);
      await layout.get(sku, now);
    }
    const size = memoSize();
    expect(size.entries).toBeLessThanOrEqual(MAX_ENTRIES);
    expect(size.chars).toBeLessThanOrEqual(MAX_CHARS);
    // The newest are the ones kept.
    expect(
      peekMemo("bound-sold-out", `SKU-${(99_999).toString(36).padStart(8, "0")}-${"X".repeat(40)}`, now),
    ).toBe("1");
    // The catalog's memory is bounded the same way.
    expect(heldSize().entries).toBeLessThanOrEqual(2000);
  });

  it("drops expired entries as it goes, not only when asked for them again", async () => {
    const memo = new EdgeMemo("expiring", "https://shop.example", { cache: nowhere });
    const start = Date.now() + 10_000_000;
    for (let i = 0; i < 1000; i++) await memo.put(`OLD-${i}`, "1", 1, start);
    const filled = memoSize().entries;
    expect(peekMemo("expiring", "OLD-999", start)).toBe("1");
    // Later writes sweep the expired ones in front of them: the memory does not grow.
    const later = start + 5000;
    for (let i = 0; i < 1000; i++) await memo.put(`NEW-${i}`, "1", 1, later);
    expect(memoSize().entries).toBeLessThanOrEqual(filled);
    expect(peekMemo("expiring", "OLD-0", later)).toBeUndefined();
  });

  it("remembers nothing of SKUs the catalog does not know, read or checked out", async () => {
    const invented = Array.from({ length: 40 }, () => unique("NOPE").toUpperCase());
    for (const sku of invented.slice(0, 20)) {
      expect((await call(`/v1/inventory/${sku}`)).status).toBe(404);
    }
    // Checkouts a stranger repeats: refused by the limiter, before any of their SKUs is looked up.
    for (let i = 0; i < 4; i++) {
      const response = await call(
        "/v1/checkout",
        {
          method: "POST",
          headers: { ...JSON_HEADERS, "Idempotency-Key": unique("k"), "CF-Connecting-IP": "192.0.2.77" },
          body: JSON.stringify(
            checkoutBody(invented.slice(20 + i * 5, 25 + i * 5).map((sku) => ({ sku, quantity: 1 }))),
          ),
        },
        { CHECKOUT_LIMITER: refusingLimiter },
      );
      expect(response.status).toBe(429);
    }
    for (const sku of invented) {
      for (const namespace of ["sold-out", "sku-product", "inventory-layout"]) {
        expect(peekMemo(namespace, sku), `${namespace} ${sku}`).toBeUndefined();
      }
    }
  });
});
