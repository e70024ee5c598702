import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { bucketObject, type InventoryTotals } from "../src/inventory/inventory.service";
import {
  admin,
  call,
  commitHolds,
  finishMoves,
  objectDown,
  reserveCart,
  stockedSku,
  testScope,
  unique,
} from "./helpers";

const minutes = (n: number) => Date.now() + n * 60_000;

/** Two objects counted by the same stock take, as two buckets of one SKU are. */
async function twoBuckets(onHand: number) {
  const [a, b] = [unique("MOVE-A"), unique("MOVE-B")];
  const stockTake = unique("take");
  await env.INVENTORY.getByName(a).set(a, onHand, stockTake);
  await env.INVENTORY.getByName(b).set(b, onHand, stockTake);
  return { a, b, from: env.INVENTORY.getByName(a), to: env.INVENTORY.getByName(b) };
}

async function detail(sku: string): Promise<InventoryTotals> {
  const response = await admin("GET", `/v1/admin/inventory/${sku}`);
  expect(response.status).toBe(200);
  return response.json<InventoryTotals>();
}

async function publicAvailable(sku: string): Promise<number> {
  return (await (await call(`/v1/inventory/${sku}`)).json<{ available: number }>()).available;
}

/** Public reads must promise exactly what checkout can take: all of it in one cart, and not one more. */
async function expectCheckoutCanTakeWhatReadsSay(sku: string) {
  const available = await publicAvailable(sku);
  const { scope } = testScope();
  const more = await reserveCart(scope, unique("one-more"), [{ sku, quantity: available + 1 }]);
  expect(more).toMatchObject({ ok: false, short: [{ sku, available }] });
  if (available === 0) return;
  const all = await reserveCart(scope, unique("all"), [{ sku, quantity: available }]);
  expect(all.ok).toBe(true);
}

describe("moves between buckets", () => {
  it("counts a move once on the receiving side, however often it is sent or delivered", async () => {
    const { b, from, to } = await twoBuckets(10);
    expect(await from.moveOut({ transferId: "t-1", to: b, units: 3 })).toEqual({
      ok: true,
      units: 3,
      delivered: true,
      replayed: false,
    });
    expect(await from.moveOut({ transferId: "t-1", to: b, units: 3 })).toMatchObject({
      units: 3,
      replayed: true,
    });
    const again = await to.moveIn({ transferId: "t-1", from: "elsewhere", to: b, units: 3, stockTake: "x" });
    expect(again).toEqual({ ok: true, state: "received", replayed: true });
    expect(await from.snapshot()).toMatchObject({ onHand: 7, books: { movedOut: 3, inFlight: 0 } });
    expect(await to.snapshot()).toMatchObject({ onHand: 13, books: { movedIn: 3 } });
  });

  it("never moves more than is free, and nothing that is held", async () => {
    const { b, from } = await twoBuckets(5);
    await from.reserve({ orderId: "held", quantity: 4, expiresAtMs: minutes(15) });
    expect(await from.moveOut({ transferId: "t-2", to: b, units: 3 })).toMatchObject({ units: 1 });
    expect(await from.snapshot()).toMatchObject({ onHand: 4, reserved: 4, available: 0 });
  });

  it("keeps a move whose receiver throws, and its alarm delivers it once the receiver answers", async () => {
    const { b, from, to } = await twoBuckets(10);
    const restore = objectDown(b, ["moveIn"]);
    let result: Awaited<ReturnType<typeof from.moveOut>>;
    try {
      result = await from.moveOut({ transferId: "t-3", to: b, units: 4 });
    } finally {
      restore();
    }
    expect(result).toMatchObject({ ok: true, units: 4, delivered: false });
    // In between, the units are on their way: counted by the sender's books, on neither shelf.
    expect(await from.snapshot()).toMatchObject({ onHand: 6, books: { movedOut: 4, inFlight: 4 } });
    expect(await to.snapshot()).toMatchObject({ onHand: 10 });
    await vi.waitFor(
      async () => expect(await to.snapshot()).toMatchObject({ onHand: 14, books: { movedIn: 4 } }),
      { timeout: 15_000, interval: 200 },
    );
    expect(await from.snapshot()).toMatchObject({ onHand: 6, books: { inFlight: 0 } });
  }, 30_000);

  it("a stock take supersedes moves sent before it: the sender's drops them, the receiver's sends them back", async () => {
    const { a, b, from, to } = await twoBuckets(10);
    const restore = objectDown(b, ["moveIn"]);
    try {
      await from.moveOut({ transferId: "t-4", to: b, units: 2 });
      await from.moveOut({ transferId: "t-5", to: b, units: 3 });
      // The receiver is counted again before either move arrives.
      await to.set(b, 10, "a-later-count");
    } finally {
      restore();
    }
    expect(await from.finishMoves()).toBe(0);
    expect(await to.snapshot()).toMatchObject({ onHand: 10, books: { movedIn: 0 } });
    // Not counted again on the sending side, so its units came back to it.
    expect(await from.snapshot()).toMatchObject({ onHand: 10, books: { movedOut: 0, inFlight: 0 } });

    const restoreAgain = objectDown(b, ["moveIn"]);
    try {
      await from.moveOut({ transferId: "t-6", to: b, units: 4 });
      await from.set(a, 10, "a-later-count");
    } finally {
      restoreAgain();
    }
    // Counted again on the sending side: the count saw 10 there, and the move is void.
    expect(await from.finishMoves()).toBe(0);
    expect(await from.snapshot()).toMatchObject({ onHand: 10, books: { inFlight: 0 } });
    expect(await to.snapshot()).toMatchObject({ onHand: 10 });
  });
});

describe("retired buckets", () => {
  it("send on what a receiver sent back, once the receiver's newer count has reached them", async () => {
    const { a, b, from: retired, to: walked } = await twoBuckets(3);
    await retired.reserve({ orderId: "o", quantity: 3, expiresAtMs: minutes(15) });
    await retired.retire(a, b);
    // A stock take reaches the retired bucket first; then a release there drains to a bucket
    // still counted by the old one, which sends the units back.
    await retired.set(a, 3, "newer-count");
    await retired.release("o");
    await vi.waitFor(async () => expect(await retired.snapshot()).toMatchObject({ books: { inFlight: 3 } }), {
      timeout: 10_000,
      interval: 100,
    });
    await walked.set(b, 10, "newer-count");
    await vi.waitFor(
      async () => {
        expect(await retired.snapshot()).toMatchObject({ onHand: 0, available: 0, books: { inFlight: 0 } });
        expect(await walked.snapshot()).toMatchObject({ onHand: 13 });
      },
      { timeout: 20_000, interval: 200 },
    );
  }, 30_000);

  it("a bucket retired before it was ever stocked keeps nothing that reaches it", async () => {
    const [never, walkedName] = [unique("MOVE-NEVER"), unique("MOVE-W")];
    const walked = env.INVENTORY.getByName(walkedName);
    await walked.set(walkedName, 10, "count");
    await env.INVENTORY.getByName(never).retire(never, walkedName);
    await walked.moveOut({ transferId: unique("t"), to: never, units: 4 });
    await vi.waitFor(
      async () => {
        expect(await env.INVENTORY.getByName(never).snapshot()).toMatchObject({ available: 0 });
        expect(await walked.snapshot()).toMatchObject({ onHand: 10, available: 10 });
      },
      { timeout: 10_000, interval: 100 },
    );
  }, 30_000);
});

describe("rebalancing a split SKU", () => {
  it("conserves every unit when the step that gives units back fails, and finishes it later", async () => {
    const sku = await stockedSku(40, 4);
    await bucketObject(env, sku, 0).adjust(-10, "test: drain");
    await bucketObject(env, sku, 1).adjust(6, "test: extra");
    // Bucket 0 takes no units at all, however they are given.
    const restore = objectDown(`${sku}`, ["moveIn", "adjust"]);
    let during: InventoryTotals;
    try {
      const response = await admin("POST", `/v1/admin/inventory/${sku}/rebalance`);
      expect(response.status).toBe(200);
      during = await response.json<InventoryTotals>();
    } finally {
      restore();
    }
    // Bucket 0 could not take its units: they are on their way, not lost.
    expect(during.onHand + during.conservation.inTransit).toBe(36);
    expect(during.conservation).toMatchObject({ balanced: true, inTransit: 9, stocked: 40, adjusted: -4 });
    expect(await finishMoves(sku)).toBe(0);
    const after = await detail(sku);
    expect(after).toMatchObject({ onHand: 36, available: 36 });
    expect(after.buckets.map((b) => b.available)).toEqual([9, 9, 9, 9]);
    expect(after.conservation).toMatchObject({ balanced: true, inTransit: 0, problems: [] });
  });

  it("finishes moves an earlier rebalance left half-done before moving anything else", async () => {
    const sku = await stockedSku(8, 2);
    await bucketObject(env, sku, 1).adjust(4, "test: extra");
    const restore = objectDown(sku, ["moveIn"]);
    try {
      expect((await admin("POST", `/v1/admin/inventory/${sku}/rebalance`)).status).toBe(200);
    } finally {
      restore();
    }
    const response = await admin("POST", `/v1/admin/inventory/${sku}/rebalance`);
    const totals = await response.json<InventoryTotals>();
    expect(totals.buckets.map((b) => b.available)).toEqual([6, 6]);
    expect(totals.conservation).toMatchObject({ balanced: true, inTransit: 0 });
    await expectCheckoutCanTakeWhatReadsSay(sku);
  });
});

describe("moves while checkouts run", () => {
  it("rebalances and adjustments racing 300 carts neither create, lose nor oversell a unit", async () => {
    const sku = await stockedSku(100, 4);
    const { scope } = testScope();
    const adjustments = [5, -3, 7, -4, 2];
    const [carts, admins] = await Promise.all([
      Promise.all(
        Array.from({ length: 300 }, (_, i) => reserveCart(scope, `race-${sku}-${i}`, [{ sku, quantity: 1 }])),
      ),
      Promise.all([
        ...adjustments.map((delta, i) =>
          admin("POST", `/v1/admin/inventory/${sku}/adjustments`, { delta, reason: `race ${i}` }),
        ),
        ...Array.from({ length: 4 }, () => admin("POST", `/v1/admin/inventory/${sku}/rebalance`)),
      ]),
    ]);
    const applied = adjustments.filter((_, i) => admins[i]?.status === 200).reduce((a, b) => a + b, 0);
    for (const response of admins) expect([200, 409]).toContain(response.status);
    expect(await finishMoves(sku)).toBe(0);
    const totals = await detail(sku);
    const held = carts.filter((cart) => cart.ok).length;
    expect(totals).toMatchObject({ onHand: 100 + applied, reserved: held });
    expect(totals.available).toBe(100 + applied - held);
    expect(totals.conservation).toMatchObject({ balanced: true, inTransit: 0, adjusted: applied });
    for (const bucket of totals.buckets) expect(bucket.available).toBeGreaterThanOrEqual(0);
  }, 120_000);
});

describe("changing a split SKU's bucket count", () => {
  it("after a shrink, units freed in a retired bucket come back to checkout", async () => {
    const sku = await stockedSku(20, 4);
    const lastBucket = bucketObject(env, sku, 3);
    await lastBucket.reserve({ orderId: "in-last-bucket", quantity: 2, expiresAtMs: minutes(15) });
    const response = await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 20, buckets: 2 });
    expect(response.status).toBe(200);
    const shrunk = await response.json<InventoryTotals>();
    expect(shrunk).toMatchObject({ bucketCount: 2, onHand: 20, reserved: 2, available: 18 });
    expect(shrunk.buckets.map((b) => b.retired)).toEqual([false, false, true, true]);
    expect(await publicAvailable(sku)).toBe(18);

    await lastBucket.release("in-last-bucket");
    // The release moves the freed units on to a walked bucket in the same write; the alarm delivers.
    await vi.waitFor(async () => expect((await detail(sku)).conservation.inTransit).toBe(0), {
      timeout: 15_000,
      interval: 100,
    });
    const after = await detail(sku);
    expect(after).toMatchObject({ onHand: 20, reserved: 0, available: 20 });
    expect(after.conservation).toMatchObject({ balanced: true, stranded: 0 });
    expect(await publicAvailable(sku)).toBe(20);
    await expectCheckoutCanTakeWhatReadsSay(sku);
  }, 30_000);

  it("holds that expire in a retired bucket return to checkout too", async () => {
    const sku = await stockedSku(6, 3);
    const lastBucket = bucketObject(env, sku, 2);
    await lastBucket.reserve({ orderId: "expiring", quantity: 2, expiresAtMs: Date.now() + 1500 });
    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 6, buckets: 1 })).status).toBe(200);
    await vi.waitFor(
      async () => {
        const totals = await detail(sku);
        expect(totals).toMatchObject({ reserved: 0, available: 6 });
        expect(totals.conservation).toMatchObject({ inTransit: 0, stranded: 0, balanced: true });
      },
      { timeout: 20_000, interval: 250 },
    );
    await expectCheckoutCanTakeWhatReadsSay(sku);
  }, 30_000);

  it("a shrink that fails part-way leaves every free unit where checkout walks, and a repeat finishes it", async () => {
    const sku = await stockedSku(12, 4);
    const restore = objectDown(`${sku}#3`, ["retire"]);
    try {
      const response = await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 12, buckets: 2 });
      expect(response.status).toBe(503);
    } finally {
      restore();
    }
    await finishMoves(sku);
    const between = await detail(sku);
    expect(between.bucketCount).toBe(4);
    expect(between.conservation).toMatchObject({ balanced: true, stranded: 0 });
    expect(between.onHand + between.conservation.inTransit).toBe(12);
    await expectCheckoutCanTakeWhatReadsSay(sku);

    const repeated = await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 12, buckets: 2 });
    expect(repeated.status).toBe(200);
    expect(await repeated.json()).toMatchObject({ bucketCount: 2, onHand: 12 });
  });

  it("growing walks the new buckets, and a retired bucket comes back into service", async () => {
    const sku = await stockedSku(9, 3);
    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 9, buckets: 1 })).status).toBe(200);
    const response = await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 12, buckets: 4 });
    const grown = await response.json<InventoryTotals>();
    expect(grown.buckets.map((b) => [b.available, b.retired])).toEqual([
      [3, false],
      [3, false],
      [3, false],
      [3, false],
    ]);
    await bucketObject(env, sku, 2).adjust(2, "test: found two more");
    expect(await detail(sku)).toMatchObject({ available: 14, conservation: { stranded: 0 } });
    await expectCheckoutCanTakeWhatReadsSay(sku);
  });
});

describe("adjusting a split SKU", () => {
  it("removes units in one bucket, gathering free units there first", async () => {
    const sku = await stockedSku(8, 4);
    const response = await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, {
      delta: -7,
      reason: "damaged in storage",
    });
    expect(response.status).toBe(200);
    const totals = await response.json<InventoryTotals>();
    expect(totals).toMatchObject({ onHand: 1, available: 1 });
    expect(totals.conservation).toMatchObject({ stocked: 8, adjusted: -7, balanced: true, inTransit: 0 });
  });

  it("changes no total when a removal fails on the way, and refuses one beyond what is free", async () => {
    const sku = await stockedSku(8, 4);
    const { scope } = testScope();
    expect((await reserveCart(scope, unique("held"), [{ sku, quantity: 3 }])).ok).toBe(true);
    // Every bucket could gather the units; each one that tries cannot receive them.
    const restore = [0, 1, 2, 3].map((bucket) =>
      objectDown(bucket === 0 ? sku : `${sku}#${bucket}`, ["moveIn"]),
    );
    try {
      const response = await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, {
        delta: -5,
        reason: "recount",
      });
      expect(response.status).toBe(503);
      expect(response.headers.get("Retry-After")).toBe("1");
    } finally {
      for (const undo of restore.reverse()) undo();
    }
    const refused = await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, {
      delta: -6,
      reason: "recount",
    });
    expect(refused.status).toBe(409);
    await finishMoves(sku);
    expect(await detail(sku)).toMatchObject({
      onHand: 8,
      reserved: 3,
      conservation: { adjusted: 0, balanced: true, inTransit: 0 },
    });
  });

  it("adds units to one bucket and evens them out", async () => {
    const sku = await stockedSku(4, 2);
    const response = await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, {
      delta: 6,
      reason: "delivery",
    });
    const totals = await response.json<InventoryTotals>();
    expect(totals.buckets.map((b) => b.available)).toEqual([5, 5]);
    expect(totals.conservation).toMatchObject({ adjusted: 6, balanced: true });
  });
});

describe("the conservation report", () => {
  it("accounts for every unit after sales and adjustments", async () => {
    const sku = await stockedSku(10, 2);
    const { scope } = testScope();
    const orderId = unique("sold");
    const sold = await reserveCart(scope, orderId, [{ sku, quantity: 3 }]);
    if (!sold.ok) throw new Error("reservation failed");
    await commitHolds(env, orderId, sold.holds);
    await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, { delta: 5, reason: "delivery" });
    expect((await detail(sku)).conservation).toEqual({
      stocked: 10,
      adjusted: 5,
      onHand: 12,
      committed: 3,
      inTransit: 0,
      stranded: 0,
      balanced: true,
      problems: [],
    });
  });

  it("says so when a bucket's units do not add up", async () => {
    const sku = await stockedSku(10, 2);
    await runInDurableObject(bucketObject(env, sku, 1), (_, state) => {
      state.storage.sql.exec("UPDATE stock SET on_hand = on_hand - 2");
    });
    const report = (await detail(sku)).conservation;
    expect(report.balanced).toBe(false);
    expect(report.problems).toEqual([
      "bucket 1: on hand 3 + committed 0 is not stocked 5 + adjusted 0 + moved in 0 - moved out 0",
    ]);
  });
});
