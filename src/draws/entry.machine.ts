import { pricedTotal } from "../pricing/cart-pricing.schemas";
import type { DrawWindow, EntryRow } from "./entries.store";

/**
 * What may happen to an entry, and what each event does to it: one pure function, so every rule of
 * an entry's life is in one place and testable without workerd. The book applies the change it
 * answers and asserts the invariants on every write (see `assertEntry`).
 */
export type EntryEvent =
  /** The gateway's fingerprint of the paying card is known: the entry will claim it. */
  | { type: "card_noted"; fingerprint: string }
  /** An authorization is about to be asked for: from now on one may exist. */
  | { type: "authorizing" }
  | { type: "authorized"; intentId: string | null; expiresAt: number }
  /**
   * The entry cannot enter. `held`: what the gateway holds under the entry's key, as far as the caller
   * knows: `none` only when the gateway said so under that key (declined, failed, cancelled); `maybe`
   * otherwise. An entry that ever asked for an authorization owes its cancel unless the gateway said
   * `none`.
   */
  | { type: "failed"; reason: string; held: "none" | "maybe" }
  | { type: "withdraw" }
  /** The book froze with the entry still pending: it never entered. */
  | { type: "frozen" }
  | { type: "auth_cancelled" }
  | { type: "card_released" }
  /** The draw charged the entry (its authorization captured): it won. */
  | { type: "won"; chargeId: string; orderId: string }
  /** The draw is over for the entry without a unit (`capture_failed`: it ranked to win, but its capture failed). */
  | { type: "lost"; reason: "not_drawn" | "capture_failed" | "draw_cancelled" };

export type EntryAnswer =
  | { kind: "ok"; entry: EntryRow }
  /** The book is frozen (or past its close): nothing changes any more. */
  | { kind: "closed"; entry: EntryRow }
  /** The event does not apply to an entry in this state; nothing changed. */
  | { kind: "refused"; entry: EntryRow; reason: string };

export type BookClock = { now: number; window: DrawWindow; frozen: boolean };

const isClosed = ({ now, window, frozen }: BookClock) => frozen || now >= window.closesAt;

/** The entry after `event`, and the answer to give; `entry` unchanged when nothing happens. */
export function decideEntry(entry: EntryRow, event: EntryEvent, clock: BookClock): EntryAnswer {
  const change = (fields: Partial<EntryRow>): EntryAnswer => ({ kind: "ok", entry: { ...entry, ...fields } });
  const refused = (reason: string): EntryAnswer => ({ kind: "refused", entry, reason });
  switch (event.type) {
    case "card_noted":
      if (entry.state !== "pending") return refused(`entry is ${entry.state}`);
      if (entry.fingerprint !== null && entry.fingerprint !== event.fingerprint) {
        return refused("entry already names another card");
      }
      return change({ fingerprint: event.fingerprint, card: "held" });
    case "authorizing":
      if (entry.state !== "pending") return refused(`entry is ${entry.state}`);
      if (isClosed(clock)) return { kind: "closed", entry };
      return entry.auth === "maybe" ? { kind: "ok", entry } : change({ auth: "maybe" });
    case "authorized":
      if (entry.state === "entered" || entry.state === "won" || entry.state === "lost")
        return { kind: "ok", entry };
      // A hold that arrives for an entry that left meanwhile is cancelled like any other it may hold.
      if (entry.state !== "pending") {
        return {
          kind: "refused",
          entry: { ...entry, auth: "owed", intentId: event.intentId },
          reason: `entry is ${entry.state}`,
        };
      }
      // Authorized too late: the hold is cancelled and the entry never enters.
      if (isClosed(clock)) {
        return {
          kind: "closed",
          entry: {
            ...entry,
            state: "void",
            reason: "closed",
            auth: "owed",
            intentId: event.intentId,
            leftAt: clock.now,
          },
        };
      }
      return change({
        state: "entered",
        auth: "none",
        intentId: event.intentId,
        authExpiresAt: event.expiresAt,
        enteredAt: clock.now,
      });
    case "failed":
      if (entry.state !== "pending") return refused(`entry is ${entry.state}`);
      return change({
        state: "void",
        reason: event.reason,
        auth: event.held === "none" || entry.auth === "none" ? "none" : "owed",
        leftAt: clock.now,
      });
    case "withdraw":
      if (entry.state === "withdrawn") return { kind: "ok", entry };
      if (entry.state === "void") return refused("entry never entered");
      if (entry.state === "won" || entry.state === "lost") return { kind: "closed", entry };
      if (isClosed(clock)) return { kind: "closed", entry };
      return change({
        state: "withdrawn",
        reason: "withdrawn",
        auth: entry.state === "entered" || entry.auth === "maybe" ? "owed" : "none",
        leftAt: clock.now,
      });
    case "frozen":
      if (entry.state !== "pending") return { kind: "ok", entry };
      return change({
        state: "void",
        reason: "closed",
        auth: entry.auth === "maybe" ? "owed" : "none",
        leftAt: clock.now,
      });
    case "won":
      if (entry.state === "won") return { kind: "ok", entry };
      if (entry.state !== "entered") return refused(`entry is ${entry.state}`);
      if (!clock.frozen) return refused("the draw has not closed");
      return change({
        state: "won",
        reason: null,
        chargeId: event.chargeId,
        orderId: event.orderId,
        leftAt: clock.now,
      });
    case "lost":
      if (entry.state === "lost") return { kind: "ok", entry };
      if (entry.state !== "entered") return refused(`entry is ${entry.state}`);
      if (!clock.frozen) return refused("the draw has not closed");
      return change({ state: "lost", reason: event.reason, auth: "owed", leftAt: clock.now });
    case "auth_cancelled":
      if (entry.state === "entered" || entry.state === "pending" || entry.state === "won") {
        return refused(`entry is ${entry.state}`);
      }
      return entry.auth === "none" ? { kind: "ok", entry } : change({ auth: "done" });
    case "card_released":
      if (entry.state !== "withdrawn" && entry.state !== "void") return refused(`entry is ${entry.state}`);
      return entry.card === "held" ? change({ card: "released" }) : { kind: "ok", entry };
  }
}

/**
 * What holds of every entry at rest, asserted on every write: an entered entry has its authorization
 * and entered before the close; an entry that left the draw owes no "maybe" (it either owes a cancel
 * or knows there is nothing to cancel) and says when it left.
 */
export function assertEntry(entry: EntryRow, window: DrawWindow) {
  const fail = (what: string) => {
    throw new Error(`entry ${entry.entryId} breaks an invariant: ${what}`);
  };
  switch (entry.state) {
    case "pending":
      if (entry.enteredAt !== null || entry.leftAt !== null) fail("a pending entry has entered or left");
      break;
    case "entered":
      if (entry.authExpiresAt === null) fail("entered without an authorization");
      if (entry.enteredAt === null || entry.enteredAt >= window.closesAt)
        fail("entered at or after the close");
      if (entry.auth !== "none") fail("an entered entry owes a cancel");
      break;
    case "won":
      if (!entry.chargeId || !entry.orderId) fail("won without a charge and its order");
      if (entry.enteredAt === null || entry.enteredAt >= window.closesAt)
        fail("won without entering before the close");
      if (entry.auth !== "none") fail("a won entry owes a cancel");
      break;
    case "lost":
      if (entry.enteredAt === null || entry.enteredAt >= window.closesAt)
        fail("lost without entering before the close");
      if (entry.auth === "none" || entry.auth === "maybe")
        fail("a lost entry's authorization is neither owed a cancel nor cancelled");
      if (entry.leftAt === null) fail("left without a time");
      break;
    case "withdrawn":
    case "void":
      if (entry.leftAt === null) fail("left without a time");
      if (entry.auth === "maybe") fail("left with an authorization in doubt");
      break;
  }
  if (entry.card === "held" && !entry.fingerprint) fail("holds a card claim without a card");
}

/**
 * What holds of an entry as it begins: what it authorizes (and a winner is charged) is what it was
 * priced at, to the unit. Asserted when it is written first, not on every write: a row that broke it
 * could otherwise never be cancelled, withdrawn or told it lost.
 */
export function assertNewEntry(entry: EntryRow, window: DrawWindow) {
  assertEntry(entry, window);
  if (entry.pricing && pricedTotal(entry.pricing) !== entry.amount)
    throw new Error(`entry ${entry.entryId} breaks an invariant: its amount is not its pricing's total`);
}
