import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DrawWindow, EntryRow } from "../../src/draws/entries.store";
import { assertEntry, type BookClock, decideEntry, type EntryEvent } from "../../src/draws/entry.machine";

/** A draw entry's life as the machine decides it: no workerd, no I/O. */
const OPENS = Date.UTC(2026, 11, 10, 9);
const CLOSES = OPENS + 3_600_000;
const window: DrawWindow = { product: "p-1", opensAt: OPENS, closesAt: CLOSES };
const during: BookClock = { now: OPENS + 60_000, window, frozen: false };
const after: BookClock = { now: CLOSES, window, frozen: false };

function pending(extra: Partial<EntryRow> = {}): EntryRow {
  return {
    entryId: "e-1",
    customer: "jane@example.com",
    email: "jane@example.com",
    name: null,
    address: null,
    sku: "SNKR-42",
    amount: 18_000,
    currency: "EUR",
    pricing: null,
    token: "tok_ok",
    keyHash: "a".repeat(64),
    bodyHash: "b".repeat(64),
    state: "pending",
    reason: null,
    auth: "none",
    intentId: null,
    authExpiresAt: null,
    chargeId: null,
    orderId: null,
    fingerprint: null,
    card: "none",
    createdAt: OPENS + 1,
    touchedAt: OPENS + 1,
    enteredAt: null,
    leftAt: null,
    ...extra,
  };
}

const authorized: EntryEvent = { type: "authorized", intentId: "pi_1", expiresAt: CLOSES + 7 * 86_400_000 };

describe("a draw entry", () => {
  it("enters once its authorization succeeds before the close", () => {
    const asking = decideEntry(pending(), { type: "authorizing" }, during);
    expect(asking.entry.auth).toBe("maybe");
    const answer = decideEntry(asking.entry, authorized, during);
    expect(answer.kind).toBe("ok");
    expect(answer.entry).toMatchObject({
      state: "entered",
      auth: "none",
      intentId: "pi_1",
      enteredAt: during.now,
    });
    expect(() => assertEntry(answer.entry, window)).not.toThrow();
  });

  it("never enters when the authorization comes back after the close: the hold is owed a cancel", () => {
    const asking = decideEntry(pending(), { type: "authorizing" }, during).entry;
    const late = decideEntry(asking, authorized, after);
    expect(late.kind).toBe("closed");
    expect(late.entry).toMatchObject({ state: "void", auth: "owed", intentId: "pi_1" });
    const frozenFirst = decideEntry(asking, authorized, { ...during, frozen: true });
    expect(frozenFirst.entry.state).toBe("void");
  });

  it("owes a cancel when it is withdrawn after entering, and none when its decline was definite", () => {
    const entered = decideEntry(pending({ auth: "maybe" }), authorized, during).entry;
    const withdrawn = decideEntry(entered, { type: "withdraw" }, during);
    expect(withdrawn.entry).toMatchObject({ state: "withdrawn", auth: "owed" });
    const declined = decideEntry(
      pending({ auth: "maybe" }),
      { type: "failed", reason: "declined", held: "none" },
      during,
    );
    expect(declined.entry).toMatchObject({ state: "void", auth: "none" });
  });

  it("refuses a withdrawal at or after the close, so the frozen list never loses an entry", () => {
    const entered = decideEntry(pending({ auth: "maybe" }), authorized, during).entry;
    expect(decideEntry(entered, { type: "withdraw" }, after)).toMatchObject({
      kind: "closed",
      entry: entered,
    });
    expect(decideEntry(entered, { type: "withdraw" }, { ...during, frozen: true }).kind).toBe("closed");
  });

  it("voids a pending entry when the book freezes, owing a cancel only if it had asked", () => {
    expect(decideEntry(pending(), { type: "frozen" }, after).entry).toMatchObject({
      state: "void",
      auth: "none",
    });
    expect(decideEntry(pending({ auth: "maybe" }), { type: "frozen" }, after).entry).toMatchObject({
      state: "void",
      auth: "owed",
    });
  });

  it("keeps a card claim to release until the entry that left says it is released", () => {
    const noted = decideEntry(pending(), { type: "card_noted", fingerprint: "fp_1" }, during).entry;
    expect(noted.card).toBe("held");
    expect(decideEntry(noted, { type: "card_noted", fingerprint: "fp_2" }, during).kind).toBe("refused");
    expect(decideEntry(noted, { type: "card_released" }, during).kind).toBe("refused");
    const left = decideEntry(noted, { type: "failed", reason: "card_used", held: "none" }, during).entry;
    expect(decideEntry(left, { type: "card_released" }, during).entry.card).toBe("released");
  });

  it("refuses to break an invariant: an entered entry without its authorization, or left in doubt", () => {
    expect(() => assertEntry(pending({ state: "entered", enteredAt: OPENS + 2 }), window)).toThrow(
      /authorization/,
    );
    expect(() => assertEntry(pending({ state: "void", leftAt: OPENS + 2, auth: "maybe" }), window)).toThrow(
      /in doubt/,
    );
  });

  it("keeps every invariant over random sequences of events and clocks", () => {
    const events = fc.constantFrom<EntryEvent>(
      { type: "card_noted", fingerprint: "fp_1" },
      { type: "card_noted", fingerprint: "fp_2" },
      { type: "authorizing" },
      authorized,
      { type: "failed", reason: "declined", held: "none" },
      { type: "failed", reason: "unknown", held: "maybe" },
      { type: "won", chargeId: "ch_1", orderId: "o-1" },
      { type: "lost", reason: "not_drawn" },
      { type: "lost", reason: "capture_failed" },
      { type: "withdraw" },
      { type: "frozen" },
      { type: "auth_cancelled" },
      { type: "card_released" },
    );
    const step = fc.record({ event: events, at: fc.integer({ min: OPENS, max: CLOSES + 60_000 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 12 }), (steps) => {
        let entry = pending();
        let frozen = false;
        let everEntered = false;
        for (const { event, at } of [...steps].sort((a, b) => a.at - b.at)) {
          const clock = { now: at, window, frozen };
          // Freezing happens to the whole book, at or after the close only.
          if (event.type === "frozen") {
            if (at < CLOSES && !frozen) continue;
            frozen = true;
          }
          const before = entry;
          entry = decideEntry(entry, event, { ...clock, frozen }).entry;
          assertEntry(entry, window);
          // Once left, an entry never comes back; an entered one leaves by withdrawing before the close,
          // or by the draw's result after the book froze.
          if (["withdrawn", "void", "won", "lost"].includes(before.state))
            expect(entry.state).toBe(before.state);
          if (before.state === "entered" && entry.state === "withdrawn")
            expect(at < CLOSES && !frozen).toBe(true);
          if (before.state === "entered" && (entry.state === "won" || entry.state === "lost"))
            expect(frozen).toBe(true);
          // An entry that asked for an authorization never leaves owing nothing unless the gateway said so.
          if (before.auth === "maybe" && entry.auth === "none" && entry.state !== "entered") {
            expect(event).toMatchObject({ type: "failed", held: "none" });
          }
          everEntered ||= entry.state === "entered";
          // Nothing leaves the draw holding an authorization nobody will cancel.
          if (entry.state === "withdrawn" && before.state === "entered") expect(entry.auth).toBe("owed");
          if (entry.state === "lost" && before.state === "entered") expect(entry.auth).toBe("owed");
        }
        if (entry.state === "entered") expect(entry.enteredAt).toBeLessThan(CLOSES);
        return everEntered || entry.state !== "entered";
      }),
      { seed: 20261207, numRuns: 2_000 },
    );
  });
});
