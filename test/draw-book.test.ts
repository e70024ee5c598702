import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BeginArgs } from "../src/draws/draw-book.do";

/** A draw's entry book as its object keeps it: one live entry per customer and per card, a frozen list. */
const OPENS = Date.UTC(2026, 11, 10, 9);
const CLOSES = OPENS + 3_600_000;
const DURING = OPENS + 60_000;
let books = 0;

function newBook() {
  const product = `draw-${++books}-${crypto.randomUUID().slice(0, 8)}`;
  return { product, book: env.DRAW_BOOKS.getByName(`${product}:0`) };
}

const hex = (char: string) => char.repeat(64);

function attempt(product: string, extra: Partial<BeginArgs> = {}): BeginArgs {
  return {
    window: { product, opensAt: OPENS, closesAt: CLOSES },
    entryId: `e-${crypto.randomUUID()}`,
    customer: "jane@example.com",
    email: "jane@example.com",
    name: null,
    address: null,
    sku: "SNKR-42",
    amount: 18_000,
    currency: "EUR",
    pricing: null,
    token: "tok_ok",
    keyHash: hex("a"),
    bodyHash: hex("b"),
    ...extra,
  };
}

describe("a draw's entry book", () => {
  it("keeps one live entry per customer: the same key carries it on, another key takes over a pending one", async () => {
    const { product, book } = newBook();
    const first = await book.begin(attempt(product, { entryId: "e-1" }), DURING);
    expect(first).toMatchObject({ kind: "begun", entry: { entryId: "e-1", touchedAt: DURING } });
    const again = await book.begin(attempt(product, { entryId: "e-other" }), DURING + 1);
    expect(again).toMatchObject({ kind: "begun", entry: { entryId: "e-1", touchedAt: DURING + 1 } });
    const mismatch = await book.begin(attempt(product, { bodyHash: hex("d") }), DURING + 3);
    expect(mismatch.kind).toBe("mismatch");
    // A pending attempt gives way to the customer's new one, owing the cancel of what it asked for.
    await book.apply("e-1", { type: "authorizing" }, DURING + 4);
    const other = await book.begin(attempt(product, { entryId: "e-2", keyHash: hex("c") }), DURING + 5);
    expect(other).toMatchObject({
      kind: "begun",
      entry: { entryId: "e-2", state: "pending" },
      superseded: { entryId: "e-1", state: "void", reason: "superseded", auth: "owed" },
    });
    await book.apply("e-2", { type: "authorizing" }, DURING + 6);
    await book.apply(
      "e-2",
      { type: "authorized", intentId: "pi", expiresAt: CLOSES + 86_400_000 },
      DURING + 7,
    );
    const third = await book.begin(attempt(product, { entryId: "e-3", keyHash: hex("f") }), DURING + 8);
    expect(third).toMatchObject({ kind: "taken", entry: { entryId: "e-2", state: "entered" } });
  });

  it("lets the sweep settle a pending entry only if no request carried it on since it read it", async () => {
    const { product, book } = newBook();
    await book.begin(attempt(product, { entryId: "e-s" }), DURING);
    const read = (await book.duties())[0];
    expect(read?.touchedAt).toBe(DURING);
    await book.begin(attempt(product, { entryId: "e-x" }), DURING + 50);
    const refused = await book.apply(
      "e-s",
      { type: "failed", reason: "abandoned", held: "none" },
      DURING + 60,
      DURING + 1,
    );
    expect(refused).toMatchObject({ kind: "refused", entry: { state: "pending" } });
    const settled = await book.apply(
      "e-s",
      { type: "failed", reason: "abandoned", held: "none" },
      DURING + 70,
      DURING + 51,
    );
    expect(settled).toMatchObject({ kind: "ok", entry: { state: "void" } });
  });

  it("takes no entry before it opens or after it closes", async () => {
    const { product, book } = newBook();
    expect((await book.begin(attempt(product), OPENS - 1)).kind).toBe("not_open");
    expect((await book.begin(attempt(product), CLOSES)).kind).toBe("closed");
  });

  it("lets a customer whose attempt failed try again, and frees the card it had claimed", async () => {
    const { product, book } = newBook();
    const window = { product, opensAt: OPENS, closesAt: CLOSES };
    const first = await book.begin(attempt(product, { entryId: "e-a" }), DURING);
    expect(first.kind).toBe("begun");
    await book.apply("e-a", { type: "card_noted", fingerprint: "fp_1" }, DURING);
    expect(await book.claimCard("fp_1", "e-a", window, DURING)).toEqual({ kind: "claimed" });
    expect(await book.claimCard("fp_1", "e-b", window, DURING)).toEqual({ kind: "taken", by: "e-a" });
    await book.apply("e-a", { type: "failed", reason: "declined", held: "none" }, DURING);
    const duties = await book.duties();
    expect(duties.map((entry) => [entry.entryId, entry.card])).toEqual([["e-a", "held"]]);
    await book.releaseCard("fp_1", "e-a");
    await book.apply("e-a", { type: "card_released" }, DURING);
    expect(await book.duties()).toEqual([]);
    expect(await book.claimCard("fp_1", "e-b", window, DURING)).toEqual({ kind: "claimed" });
    const retry = await book.begin(attempt(product, { entryId: "e-c", keyHash: hex("e") }), DURING + 5);
    expect(retry).toMatchObject({ kind: "begun", entry: { entryId: "e-c", state: "pending" } });
  });

  it("freezes at the close: pending entries never enter, a late authorization is owed a cancel, the list is final", async () => {
    const { product, book } = newBook();
    for (const [entryId, customer] of [
      ["e-1", "a@example.com"],
      ["e-2", "b@example.com"],
      ["e-3", "c@example.com"],
    ] as const) {
      await book.begin(attempt(product, { entryId, customer, keyHash: hex(entryId.at(-1) ?? "0") }), DURING);
      await book.apply(entryId, { type: "authorizing" }, DURING);
    }
    const authorized = { type: "authorized", intentId: "pi", expiresAt: CLOSES + 86_400_000 } as const;
    await book.apply("e-1", authorized, DURING + 10);
    await book.apply("e-2", authorized, DURING + 10);
    await book.apply("e-2", { type: "withdraw" }, DURING + 20);
    expect(await book.frozenEntries("", 10)).toBeNull();
    expect(await book.freeze({ product, opensAt: OPENS, closesAt: CLOSES }, CLOSES - 1)).toEqual({
      kind: "open",
    });
    const frozen = await book.freeze({ product, opensAt: OPENS, closesAt: CLOSES }, CLOSES + 5);
    expect(frozen).toMatchObject({
      kind: "frozen",
      counts: { entered: 1, withdrawn: 1, void: 1, pending: 0 },
    });
    // e-3's authorization answers after the freeze: it is not in the draw, and its hold is to be cancelled.
    const late = await book.apply("e-3", authorized, CLOSES + 6);
    expect(late).toMatchObject({ kind: "refused", entry: { state: "void", auth: "owed" } });
    expect(await book.apply("e-1", { type: "withdraw" }, CLOSES + 7)).toMatchObject({ kind: "closed" });
    expect(await book.frozenEntries("", 10)).toEqual({ entries: [{ entryId: "e-1", sku: "SNKR-42" }] });
    const owed = (await book.duties()).map((entry) => [entry.entryId, entry.auth]);
    expect(owed).toEqual([
      ["e-2", "owed"],
      ["e-3", "owed"],
    ]);
  });

  it("refuses a card claim that arrives after the same entry gave the card back", async () => {
    const { product, book } = newBook();
    const window = { product, opensAt: OPENS, closesAt: CLOSES };
    await book.releaseCard("fp_9", "e-slow");
    expect(await book.claimCard("fp_9", "e-slow", window, DURING)).toEqual({ kind: "released" });
    expect(await book.claimCard("fp_9", "e-other", window, DURING)).toEqual({ kind: "claimed" });
  });

  it("refuses a call that names another window than the one the book was opened with", async () => {
    const { product, book } = newBook();
    await book.begin(attempt(product), DURING);
    const moved = { product, opensAt: OPENS, closesAt: CLOSES + 1 };
    expect(await book.begin(attempt(product, { window: moved }), DURING)).toEqual({ kind: "window_changed" });
    expect(await book.claimCard("fp_1", "e-1", moved, DURING)).toEqual({ kind: "window_changed" });
  });
});
