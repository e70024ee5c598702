import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bucketObject, readTotals } from "../src/inventory/inventory.service";
import {
  admin,
  call,
  commitHolds,
  counting,
  releaseHolds,
  reserveCart,
  stockedSku,
  testScope,
  unique,
} from "./helpers";

/** Concurrency tests fire hundreds of calls at once: generous, for a busy two-core CI machine. */
const CONCURRENCY_TIMEOUT_MS = 120_000;

async function holdsOf(sku: string) {
  return (await readTotals(env, sku)).holds;
}

describe("reserveCart", () => {
  it("holds every SKU of a cart, merging duplicate lines", async () => {
    const [a, b] = [await stockedSku(5), await stockedSku(5)];
    const { scope } = testScope();
    const result = await reserveCart(scope, "order-1", [
      { sku: a, quantity: 1 },
      { sku: b, quantity: 2 },
      { sku: a, quantity: 2 },
    ]);
    expect(result.ok).toBe(true);
    expect(result.ok && result.holds.map((h) => [h.sku, h.quantity])).toEqual([
      [a, 3],
      [b, 2],
    ]);
    expect(await readTotals(env, a)).toMatchObject({ reserved: 3, available: 2 });
  });

  it("leaves no hold anywhere when one SKU is short, and reports every short SKU", async () => {
    const [plenty, scarce, none] = [await stockedSku(10), await stockedSku(1), await stockedSku(0)];
    const { scope } = testScope();
    const result = await reserveCart(scope, "order-short", [
      { sku: plenty, quantity: 2 },
      { sku: scarce, quantity: 2 },
      { sku: none, quantity: 1 },
    ]);
    expect(result).toEqual({
      ok: false,
      short: [
        { sku: scarce, requested: 2, available: 1 },
        { sku: none, requested: 1, available: 0 },
      ],
    });
    for (const sku of [plenty, scarce, none]) expect(await holdsOf(sku)).toEqual([]);
    expect(await readTotals(env, plenty)).toMatchObject({ available: 10 });
  });

  it("can be retried with the same order id without holding twice", async () => {
    const sku = await stockedSku(10);
    const { scope } = testScope();
    const first = await reserveCart(scope, "retry-me", [{ sku, quantity: 3 }]);
    const second = await reserveCart(scope, "retry-me", [{ sku, quantity: 3 }]);
    expect(second).toEqual(first);
    expect(await readTotals(env, sku)).toMatchObject({ reserved: 3 });
  });

  it(
    "never deadlocks or oversells with overlapping carts in opposite orders",
    async () => {
      const [a, b] = [await stockedSku(30), await stockedSku(30)];
      const { scope } = testScope();
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          reserveCart(
            scope,
            `cross-${i}`,
            i % 2
              ? [
                  { sku: a, quantity: 1 },
                  { sku: b, quantity: 1 },
                ]
              : [
                  { sku: b, quantity: 1 },
                  { sku: a, quantity: 1 },
                ],
          ),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(30);
      for (const sku of [a, b])
        expect(await readTotals(env, sku)).toMatchObject({ reserved: 30, available: 0 });
    },
    CONCURRENCY_TIMEOUT_MS,
  );

  it(
    "holds exactly the stock under 1,000 concurrent single-unit carts",
    async () => {
      const sku = await stockedSku(100);
      const { scope } = testScope();
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => reserveCart(scope, `rush-${i}`, [{ sku, quantity: 1 }])),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(100);
      expect(await readTotals(env, sku)).toMatchObject({ onHand: 100, reserved: 100, available: 0 });
    },
    CONCURRENCY_TIMEOUT_MS,
  );

  it("commits and releases what it held, per bucket", async () => {
    const [a, b] = [await stockedSku(5), await stockedSku(5)];
    const { scope } = testScope();
    const sold = await reserveCart(scope, "to-commit", [{ sku: a, quantity: 2 }]);
    const dropped = await reserveCart(scope, "to-release", [{ sku: b, quantity: 2 }]);
    if (!sold.ok || !dropped.ok) throw new Error("reservation failed");
    await commitHolds(env, "to-commit", sold.holds);
    await releaseHolds(env, "to-release", dropped.holds);
    expect(await readTotals(env, a)).toMatchObject({ onHand: 3, reserved: 0, committed: 2 });
    expect(await readTotals(env, b)).toMatchObject({ onHand: 5, reserved: 0, committed: 0 });
  });
});

describe("hot SKUs split into buckets", () => {
  it("spreads the stock evenly over K buckets and shows the totals", async () => {
    const sku = await stockedSku(102, 4);
    const response = await admin("GET", `/v1/admin/inventory/${sku}`);
    const detail = await response.json<{
      onHand: number;
      bucketCount: number;
      buckets: { onHand: number }[];
    }>();
    expect(detail.onHand).toBe(102);
    expect(detail.bucketCount).toBe(4);
    expect(detail.buckets.map((b) => b.onHand)).toEqual([26, 26, 25, 25]);
    expect(await (await call(`/v1/inventory/${sku}`)).json()).toMatchObject({
      available: 102,
      status: "in_stock",
    });
  });

  it(
    "never oversells under concurrency and drains every bucket before sold out",
    async () => {
      const sku = await stockedSku(100, 4);
      const { scope } = testScope();
      const results = await Promise.all(
        Array.from({ length: 400 }, (_, i) => reserveCart(scope, `b-${i}`, [{ sku, quantity: 1 }])),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(100);
      const totals = await readTotals(env, sku);
      expect(totals).toMatchObject({ onHand: 100, reserved: 100, available: 0 });
      expect(totals.buckets.map((b) => b.available)).toEqual([0, 0, 0, 0]);
      expect(totals.buckets.map((b) => b.reserved)).toEqual([25, 25, 25, 25]);
    },
    CONCURRENCY_TIMEOUT_MS,
  );

  it("falls over to other buckets when one is empty, and reports sold out only when all are", async () => {
    const sku = await stockedSku(4, 4);
    const { scope } = testScope();
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await reserveCart(scope, `one-${i}`, [{ sku, quantity: 1 }]));
    expect(got.every((r) => r.ok)).toBe(true);
    const fifth = await reserveCart(scope, "one-5", [{ sku, quantity: 1 }]);
    expect(fifth).toEqual({ ok: false, short: [{ sku, requested: 1, available: 0 }] });
  });

  it("fills one order from several buckets when no single bucket has enough", async () => {
    const sku = await stockedSku(8, 4);
    const { scope } = testScope();
    const result = await reserveCart(scope, "big-order", [{ sku, quantity: 5 }]);
    expect(result.ok).toBe(true);
    const hold = result.ok ? result.holds[0] : undefined;
    expect(hold?.quantity).toBe(5);
    expect(hold?.buckets.length).toBeGreaterThan(1);
    expect(await readTotals(env, sku)).toMatchObject({ reserved: 5, available: 3 });
    await commitHolds(env, "big-order", result.ok ? result.holds : []);
    expect(await readTotals(env, sku)).toMatchObject({ onHand: 3, reserved: 0, committed: 5 });
  });

  it("does not hold twice when a walk is retried after a refusing bucket was restocked", async () => {
    const sku = await stockedSku(8, 4);
    const { scope } = testScope();
    // Take everything but one bucket's worth so the order must walk past empty buckets.
    for (let i = 0; i < 3; i++) await bucketObject(env, sku, i).adjust(-2, "test: empty bucket");
    const first = await reserveCart(scope, "walker", [{ sku, quantity: 2 }]);
    expect(first.ok).toBe(true);
    for (let i = 0; i < 3; i++) await bucketObject(env, sku, i).adjust(2, "test: refill");
    const retried = await reserveCart(scope, "walker", [{ sku, quantity: 2 }]);
    expect(retried).toEqual(first);
    expect(await readTotals(env, sku)).toMatchObject({ reserved: 2 });
  });

  it("rebalances free units over the buckets without creating or losing any", async () => {
    const sku = await stockedSku(40, 4);
    await bucketObject(env, sku, 0).adjust(-10, "test: drain");
    await bucketObject(env, sku, 1).adjust(6, "test: extra");
    const response = await admin("POST", `/v1/admin/inventory/${sku}/rebalance`);
    expect(response.status).toBe(200);
    const totals = await response.json<{ available: number; buckets: { available: number }[] }>();
    expect(totals.available).toBe(36);
    expect(totals.buckets.map((b) => b.available)).toEqual([9, 9, 9, 9]);
  });

  it("shrinks back to one bucket, keeping held units where they are until they settle", async () => {
    const sku = await stockedSku(20, 4);
    const { scope } = testScope();
    const held = await reserveCart(scope, "kept", [{ sku, quantity: 1 }]);
    expect(held.ok).toBe(true);
    const response = await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 20, buckets: 1 });
    expect(response.status).toBe(200);
    const totals = await response.json<{
      onHand: number;
      reserved: number;
      available: number;
      bucketCount: number;
    }>();
    expect(totals).toMatchObject({ onHand: 20, reserved: 1, available: 19, bucketCount: 1 });
    await commitHolds(env, "kept", held.ok ? held.holds : []);
    expect(await readTotals(env, sku)).toMatchObject({ onHand: 19, committed: 1 });
  });
});

describe("sold-out fast path", () => {
  it("refuses a sold-out SKU at the edge without reaching its objects, until restocked", async () => {
    const sku = await stockedSku(1);
    const { scope, settled } = testScope();
    expect((await reserveCart(scope, unique("first"), [{ sku, quantity: 1 }])).ok).toBe(true);
    expect((await reserveCart(scope, unique("late"), [{ sku, quantity: 1 }])).ok).toBe(false);
    await settled();

    const objects = counting(env.INVENTORY, ["getByName", "get", "idFromName"]);
    const late = testScope({ INVENTORY: objects.binding });
    for (let i = 0; i < 50; i++) {
      expect(await reserveCart(late.scope, unique("later"), [{ sku, quantity: 1 }])).toEqual({
        ok: false,
        short: [{ sku, requested: 1, available: 0 }],
      });
    }
    expect(objects.calls()).toBe(0);
    const read = await call(`/v1/inventory/${sku}`, {}, { INVENTORY: objects.binding });
    expect(await read.json()).toMatchObject({ available: 0, status: "sold_out" });
    expect(objects.calls()).toBe(0);

    expect(
      (await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, { delta: 5, reason: "restock" })).status,
    ).toBe(200);
    expect((await reserveCart(scope, unique("after-restock"), [{ sku, quantity: 1 }])).ok).toBe(true);
  });

  it("still reports the other short SKUs of a cart that holds a sold-out one", async () => {
    const [gone, scarce] = [await stockedSku(0), await stockedSku(1)];
    const { scope, settled } = testScope();
    await reserveCart(scope, unique("prime"), [{ sku: gone, quantity: 1 }]);
    await settled();
    const result = await reserveCart(scope, unique("mixed"), [
      { sku: gone, quantity: 1 },
      { sku: scarce, quantity: 3 },
    ]);
    expect(result).toEqual({
      ok: false,
      short: [
        { sku: gone, requested: 1, available: 0 },
        { sku: scarce, requested: 3, available: 1 },
      ],
    });
    expect(await holdsOf(scarce)).toEqual([]);
  });
});
