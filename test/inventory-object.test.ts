import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { SkuInventory } from "../src/inventory/inventory.do";
import { unique } from "./helpers";

/** Concurrency tests fire hundreds of calls at once: generous, for a busy two-core CI machine. */
const CONCURRENCY_TIMEOUT_MS = 120_000;

const minutes = (n: number) => Date.now() + n * 60_000;

function freshObject(onHand: number) {
  const name = unique("OBJ");
  const stub = env.INVENTORY.getByName(name);
  return { name, stub, ready: stub.set(name, onHand) };
}

type Row = { order_id: string; state: string; quantity: number };
const reservations = (stub: DurableObjectStub<SkuInventory>) =>
  runInDurableObject(stub, (_, state) =>
    state.storage.sql
      .exec<Row>("SELECT order_id, state, quantity FROM reservations ORDER BY order_id")
      .toArray(),
  );

describe("SkuInventory", () => {
  it(
    "holds exactly the stock under 1,000 concurrent reserves of one unit",
    async () => {
      const { stub, ready } = freshObject(100);
      await ready;
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          stub.reserve({ orderId: `order-${i}`, quantity: 1, expiresAtMs: minutes(15) }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(100);
      expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.error === "insufficient_stock")).toBe(true);
      const snapshot = await stub.snapshot();
      expect(snapshot).toMatchObject({ onHand: 100, reserved: 100, available: 0, holdCount: 100 });
      expect(snapshot?.holds).toHaveLength(100);
    },
    CONCURRENCY_TIMEOUT_MS,
  );

  it("answers a second reserve for the same order with the same hold", async () => {
    const { stub, ready } = freshObject(10);
    await ready;
    const first = await stub.reserve({ orderId: "o1", quantity: 3, expiresAtMs: minutes(15) });
    const again = await stub.reserve({ orderId: "o1", quantity: 3, expiresAtMs: minutes(30) });
    expect(again).toMatchObject({ ok: true, quantity: 3, replayed: true });
    expect(again.ok && first.ok && again.expiresAt).toBe(first.ok && first.expiresAt);
    expect(await stub.snapshot()).toMatchObject({ reserved: 3, available: 7 });
  });

  it("refuses a reserve beyond what is available, holding nothing", async () => {
    const { stub, ready } = freshObject(2);
    await ready;
    expect(await stub.reserve({ orderId: "big", quantity: 3, expiresAtMs: minutes(15) })).toEqual({
      ok: false,
      error: "insufficient_stock",
      available: 2,
    });
    expect(await stub.snapshot()).toMatchObject({ reserved: 0, holds: [] });
  });

  it("commits a hold once: on hand and reserved drop, committed rises, a replay changes nothing", async () => {
    const { stub, ready } = freshObject(10);
    await ready;
    await stub.reserve({ orderId: "o", quantity: 4, expiresAtMs: minutes(15) });
    expect(await stub.commit("o")).toEqual({ ok: true, quantity: 4, replayed: false });
    const after = await stub.snapshot();
    expect(after).toMatchObject({ onHand: 6, reserved: 0, available: 6, committed: 4 });
    expect(await stub.commit("o")).toEqual({ ok: true, quantity: 4, replayed: true });
    expect(await stub.snapshot()).toEqual(after);
    expect(await stub.release("o")).toEqual({ ok: false, error: "committed" });
    expect(await stub.reserve({ orderId: "o", quantity: 4, expiresAtMs: minutes(15) })).toMatchObject({
      ok: false,
      error: "already_committed",
    });
    expect(await stub.snapshot()).toEqual(after);
  });

  it("releases a hold once, and a commit after the release says so instead of selling", async () => {
    const { stub, ready } = freshObject(5);
    await ready;
    await stub.reserve({ orderId: "o", quantity: 2, expiresAtMs: minutes(15) });
    expect(await stub.release("o")).toEqual({ ok: true, quantity: 2, replayed: false });
    expect(await stub.release("o")).toEqual({ ok: true, quantity: 2, replayed: true });
    expect(await stub.commit("o")).toEqual({ ok: false, error: "released" });
    expect(await stub.snapshot()).toMatchObject({ onHand: 5, reserved: 0, committed: 0 });
    expect(await stub.commit("never")).toEqual({ ok: false, error: "no_hold" });
  });

  it("expires a hold by its alarm, returning the stock; a second run changes nothing", async () => {
    const { stub, ready } = freshObject(5);
    await ready;
    await stub.reserve({ orderId: "late", quantity: 2, expiresAtMs: Date.now() + 20 });
    await stub.reserve({ orderId: "later", quantity: 1, expiresAtMs: minutes(15) });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await reservations(stub)).toEqual([
      { order_id: "late", state: "expired", quantity: 2 },
      { order_id: "later", state: "held", quantity: 1 },
    ]);
    const ledger = await stub.ledger();
    expect(ledger.filter((entry) => entry.kind === "expire")).toHaveLength(1);
    const before = await stub.snapshot();
    expect(before).toMatchObject({ onHand: 5, reserved: 1, available: 4 });
    // The alarm is re-armed for the remaining hold; running it now expires nothing.
    await runDurableObjectAlarm(stub);
    expect(await stub.snapshot()).toEqual(before);
    expect((await stub.ledger()).filter((entry) => entry.kind === "expire")).toHaveLength(1);
    expect(await stub.commit("late")).toEqual({ ok: false, error: "expired" });
  });

  it("gives a closed order's sold units back once, and only those no stock take has counted since", async () => {
    const { stub, ready } = freshObject(10);
    await ready;
    await stub.reserve({ orderId: "sold-then-closed", quantity: 3, expiresAtMs: minutes(15) });
    await stub.settleMany(["sold-then-closed"], "committed");
    expect(await stub.counts()).toMatchObject({ onHand: 7, committed: 3, reserved: 0 });
    // The order was then closed: its units were sold to no one.
    expect(await stub.unsell(["sold-then-closed"])).toMatchObject({
      "sold-then-closed": { ok: true, quantity: 3 },
    });
    expect(await stub.counts()).toMatchObject({ onHand: 10, committed: 0, reserved: 0 });
    expect(await stub.unsell(["sold-then-closed"])).toMatchObject({
      "sold-then-closed": { ok: true, replayed: true },
    });
    expect(await stub.counts()).toMatchObject({ onHand: 10, committed: 0 });
    // A hold still held is released as a release would; a stock take after a sale stands, even in the
    // same millisecond (the object's clock does not move within a turn, and may step back elsewhere).
    await stub.reserve({ orderId: "held", quantity: 2, expiresAtMs: minutes(15) });
    await stub.reserve({ orderId: "counted", quantity: 1, expiresAtMs: minutes(15) });
    const frozen = vi.spyOn(Date, "now").mockReturnValue(Date.now());
    try {
      await stub.settleMany(["counted"], "committed");
      expect((await stub.set(await stub.snapshot().then((s) => s?.sku ?? ""), 8)).ok).toBe(true);
    } finally {
      frozen.mockRestore();
    }
    const answers = await stub.unsell(["held", "counted", "unknown"]);
    expect(answers).toMatchObject({
      held: { ok: true },
      counted: { ok: true },
      unknown: { ok: false, error: "no_hold" },
    });
    expect(await stub.counts()).toMatchObject({ onHand: 8, reserved: 0, committed: 0 });
    const ledger = await runInDurableObject(stub, (_, state) =>
      state.storage.sql
        .exec<{ kind: string; quantity: number }>("SELECT kind, quantity FROM ledger WHERE kind = 'return'")
        .toArray(),
    );
    expect(ledger).toEqual([
      { kind: "return", quantity: 3 },
      { kind: "return", quantity: 0 },
    ]);
  });

  it("takes no hold again for an order released as closed, but does after a plain release", async () => {
    const { stub, ready } = freshObject(10);
    await ready;
    const hold = (orderId: string) => stub.reserve({ orderId, quantity: 1, expiresAtMs: minutes(15) });
    expect(await hold("retried")).toMatchObject({ ok: true });
    await stub.release("retried");
    // A plain release (a cart given back by a failed attempt) lets the same order hold again.
    expect(await hold("retried")).toMatchObject({ ok: true, replayed: false });
    // An order its shard closed is closed here for good, whatever its hold came to, or none at all.
    expect(await hold("closed")).toMatchObject({ ok: true });
    await stub.settleMany(["closed", "never-held"], "released", true);
    expect(await hold("closed")).toMatchObject({ ok: false, error: "closed" });
    expect(await hold("never-held")).toMatchObject({ ok: false, error: "closed" });
    expect(await stub.pin(["closed"])).toMatchObject({ closed: { ok: false, error: "released" } });
    expect(await stub.counts()).toMatchObject({ reserved: 1, onHand: 10 });
  });

  it("arms its alarm for the earliest hold", async () => {
    const { stub, ready } = freshObject(5);
    await ready;
    const soon = minutes(5);
    await stub.reserve({ orderId: "a", quantity: 1, expiresAtMs: minutes(15) });
    await stub.reserve({ orderId: "b", quantity: 1, expiresAtMs: soon });
    const alarm = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(alarm).toBe(soon);
  });

  it("keeps a pinned hold past its expiry until a decision commits or releases it", async () => {
    const { stub, ready } = freshObject(3);
    await ready;
    // Long enough for the pins below to come first on a busy machine, short enough to wait out.
    const expiresAtMs = Date.now() + 1500;
    await stub.reserve({ orderId: "paying", quantity: 1, expiresAtMs });
    await stub.reserve({ orderId: "idle", quantity: 1, expiresAtMs });
    expect(await stub.pin(["paying", "nobody"])).toEqual({
      paying: { ok: true, quantity: 1, replayed: false },
      nobody: { ok: false, error: "no_hold" },
    });
    expect((await stub.pin(["paying"])).paying).toMatchObject({ ok: true, replayed: true });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAtMs - Date.now() + 20)));
    await runDurableObjectAlarm(stub);
    expect(await stub.snapshot()).toMatchObject({
      reserved: 1,
      holds: [{ orderId: "paying", pinned: true }],
    });
    expect((await stub.pin(["idle"])).idle).toEqual({ ok: false, error: "expired" });
    expect(await stub.settleMany(["paying", "idle"], "committed")).toEqual({
      paying: { ok: true, quantity: 1, replayed: false },
      idle: { ok: false, error: "expired" },
    });
    expect(await stub.snapshot()).toMatchObject({ onHand: 2, reserved: 0, committed: 1 });
  });

  it("refuses to set or adjust stock below what is reserved, changing nothing", async () => {
    const { stub, ready } = freshObject(10);
    await ready;
    await stub.reserve({ orderId: "o", quantity: 6, expiresAtMs: minutes(15) });
    const before = await stub.snapshot();
    expect(await stub.set("x", 5)).toMatchObject({ ok: false, error: "stock_below_reserved", reserved: 6 });
    expect(await stub.adjust(-5, "shrinkage")).toMatchObject({ ok: false, error: "stock_below_reserved" });
    expect(await stub.snapshot()).toEqual(before);
    expect(await stub.adjust(-4, "shrinkage")).toMatchObject({
      ok: true,
      snapshot: { onHand: 6, available: 0 },
    });
  });

  it("sets the same count twice with the same result, restarting committed each time", async () => {
    const { name, stub, ready } = freshObject(10);
    await ready;
    await stub.reserve({ orderId: "o", quantity: 2, expiresAtMs: minutes(15) });
    await stub.commit("o");
    const first = await stub.set(name, 20, "stock-take-1");
    const second = await stub.set(name, 20, "stock-take-1");
    expect(first.ok && first.snapshot).toMatchObject({ onHand: 20, committed: 0, available: 20 });
    expect(second.ok && { ...second.snapshot, updatedAt: "" }).toEqual(
      first.ok && { ...first.snapshot, updatedAt: "" },
    );
  });

  it("keeps an append-only ledger of every movement with the order and reason", async () => {
    const { stub, ready } = freshObject(10);
    await ready;
    await stub.reserve({ orderId: "a", quantity: 2, expiresAtMs: minutes(15) });
    await stub.reserve({ orderId: "b", quantity: 1, expiresAtMs: minutes(15) });
    await stub.commit("a");
    await stub.release("b");
    await stub.adjust(5, "delivery");
    const kinds = (await stub.ledger()).map((e) => [e.kind, e.quantity, e.orderId, e.reason, e.onHandAfter]);
    expect(kinds).toEqual([
      ["adjust", 5, null, "delivery", 13],
      ["release", 1, "b", null, 8],
      ["commit", 2, "a", null, 8],
      ["hold", 1, "b", null, 10],
      ["hold", 2, "a", null, 10],
      ["set", 10, null, null, 10],
    ]);
  });

  it("refuses malformed arguments at its own boundary", async () => {
    const { stub, ready } = freshObject(10);
    await ready;
    const invalid = { ok: false, error: "invalid_argument" };
    expect(await stub.reserve({ orderId: "o", quantity: 0, expiresAtMs: minutes(1) })).toMatchObject(invalid);
    expect(await stub.reserve({ orderId: "o", quantity: 1.5, expiresAtMs: minutes(1) })).toMatchObject(
      invalid,
    );
    expect(await stub.reserve({ orderId: "", quantity: 1, expiresAtMs: minutes(1) })).toMatchObject(invalid);
    expect(await stub.set("x", -1)).toMatchObject(invalid);
    expect(await stub.adjust(1, "")).toMatchObject(invalid);
    expect((await stub.pin([""]))[""]).toMatchObject(invalid);
    expect(await stub.snapshot()).toMatchObject({ onHand: 10, reserved: 0 });
  });
});

describe("SkuInventory returns", () => {
  const DAY = 24 * 3600 * 1000;
  const age = (stub: DurableObjectStub<SkuInventory>, orderId: string, days: number) =>
    runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE reservations SET updated_at = ? WHERE order_id = ?",
        Date.now() - days * DAY,
        orderId,
      );
    });

  it("keeps a sale past the week settled holds are kept, so a refund a month later still puts it back", async () => {
    const { stub, ready } = freshObject(10);
    await ready;
    await stub.reserve({ orderId: "sold-old", quantity: 2, expiresAtMs: minutes(15) });
    await stub.reserve({ orderId: "let-go", quantity: 1, expiresAtMs: minutes(15) });
    expect(await stub.commit("sold-old")).toMatchObject({ ok: true });
    await stub.release("let-go");
    await age(stub, "sold-old", 30);
    await age(stub, "let-go", 30);
    await stub.reserve({ orderId: "arms-alarm", quantity: 1, expiresAtMs: Date.now() - 1 });
    await runDurableObjectAlarm(stub);
    const kept = (await reservations(stub)).map((row) => row.order_id);
    expect(kept).toContain("sold-old");
    expect(kept).not.toContain("let-go");
    const back = await stub.restock([{ key: "sold-old:r1", orderId: "sold-old", quantity: 2 }]);
    expect(back["sold-old:r1"]).toEqual({ ok: true, units: 2 });
    expect(await stub.snapshot()).toMatchObject({ onHand: 10, committed: 0 });
    // Past the gateway's refund window the sale is let go too: nothing can be returned to it.
    await age(stub, "sold-old", 200);
    await stub.reserve({ orderId: "arms-again", quantity: 1, expiresAtMs: Date.now() - 1 });
    await runDurableObjectAlarm(stub);
    expect((await reservations(stub)).map((row) => row.order_id)).not.toContain("sold-old");
  });

  it("answers each share of a batch alone: a malformed one refuses only itself", async () => {
    const { stub, ready } = freshObject(5);
    await ready;
    await stub.reserve({ orderId: "paid-1", quantity: 1, expiresAtMs: minutes(15) });
    await stub.commit("paid-1");
    const answers = await stub.restock([
      { key: "paid-1:r1", orderId: "paid-1", quantity: 1 },
      { key: "bad:r1", orderId: "bad", quantity: -3 },
      { key: "never:r1", orderId: "never-sold", quantity: 1 },
    ]);
    expect(answers).toEqual({
      "paid-1:r1": { ok: true, units: 1 },
      "bad:r1": { ok: false, error: "invalid" },
      "never:r1": { ok: false, error: "not_sold" },
    });
  });
});
