import { cardShard, DRAW_SHARDS, drawBook, shardOfEntry } from "../../draws/draws";
import type { EntryRow } from "../../draws/entries.store";
import type { AuthorizationRef, PaymentGateway } from "../../payments/gateway";
import { gatewayTurns } from "../../payments/gateway-pacer.do";
import { logEvent } from "../../shared/log";

/**
 * A pending entry is settled by the sweep only once no request can still be carrying it on: its
 * gateway call gives up long before this (see the gateways' timeouts).
 */
const STALE_PENDING_MS = 10 * 60_000;

/** What a cancel (or a look) may answer once nothing is held under the key any more. */
export const RELEASED: ReadonlySet<string> = new Set(["cancelled", "failed", "none"]);

/** The one key under which an entry's authorization is asked for, captured and cancelled. */
const entryAuthKey = (entryId: string) => `draw-entry-${entryId}`;

export function authorizationOf(entry: EntryRow): AuthorizationRef {
  return {
    orderId: entry.entryId,
    idempotencyKey: entryAuthKey(entry.entryId),
    amount: { amount: entry.amount, currency: entry.currency },
    token: entry.token,
    intentId: entry.intentId,
  };
}

/** `exhausted`: the sweep stopped at its budget of calls with duties left: the next may go at once. */
export type SweepReport = {
  looked: number;
  cancelled: number;
  released: number;
  settled: number;
  left: number;
  exhausted: boolean;
};

/** Gateway calls one sweep makes at most (the rest wait for the next, at once): a step stays short. */
const SWEEP_CALLS = 300;
/** Entries of one book worked on at once. */
const PARALLEL = 20;

/**
 * Works off what entries that left a draw still owe (see entries.store.ts): cancels the authorizations
 * they may hold, gives back their card claims, and settles entries left pending by a request that
 * stopped. Every step is repeatable: a cancel under the entry's key, a release naming the entry, an
 * event the entry machine answers alike twice; settling a pending entry is refused by its book if a
 * request carried it on since the sweep read it. Gateway calls go at the gateway's pace, at most
 * SWEEP_CALLS a sweep; what is not done now is found again at the next sweep (`left`).
 */
export async function sweepDuties(
  env: Env,
  product: string,
  gateway: () => Promise<PaymentGateway>,
  now = Date.now(),
): Promise<SweepReport> {
  const report: SweepReport = { looked: 0, cancelled: 0, released: 0, settled: 0, left: 0, exhausted: false };
  let budget = SWEEP_CALLS;
  for (let shard = 0; shard < DRAW_SHARDS; shard++) {
    const duties = await drawBook(env, product, shard).duties(now - STALE_PENDING_MS);
    report.looked += duties.length;
    for (let at = 0; at < duties.length; at += PARALLEL) {
      const batch = duties.slice(at, at + PARALLEL);
      const calls = budget > 0 ? (await gatewayTurns(env, Math.min(batch.length, budget))).granted : 0;
      budget -= calls;
      const done = await Promise.all(
        batch.map(async (entry, i) => {
          try {
            return await settleDuty(env, product, entry, gateway, i < calls, report);
          } catch (error) {
            logEvent("warn", "a draw entry's duty failed; the next sweep tries again", {
              product,
              entryId: entry.entryId,
              error: String(error),
            });
            return false;
          }
        }),
      );
      report.left += done.filter((ok) => !ok).length;
    }
  }
  report.exhausted = budget <= 0 && report.left > 0;
  return report;
}

/** One entry's duties, in order; false when something is left (no gateway turn, an answer pending). */
async function settleDuty(
  env: Env,
  product: string,
  entry: EntryRow,
  gateway: () => Promise<PaymentGateway>,
  mayCall: boolean,
  report: SweepReport,
): Promise<boolean> {
  const book = drawBook(env, product, shardOfEntry(entry.entryId) ?? 0);
  // Settling a pending entry is refused by its book if a request carried it on since it was read.
  const untouched = entry.touchedAt + 1;
  if (entry.state === "pending") {
    if (entry.auth === "none") {
      await book.apply(
        entry.entryId,
        { type: "failed", reason: "abandoned", held: "none" },
        undefined,
        untouched,
      );
      report.settled++;
      return false;
    }
    if (!mayCall) return false;
    const found = await (await gateway()).lookupAuthorization(authorizationOf(entry));
    if (found.status === "authorized") {
      const event = {
        type: "authorized",
        intentId: found.intentId ?? entry.intentId,
        expiresAt: Date.parse(found.expiresAt),
      } as const;
      await book.apply(entry.entryId, event, undefined, untouched);
    } else {
      // Only the gateway's word that nothing is held lets an attempt go without a cancel: a hold still
      // forming (processing, waiting for the card holder, not found yet) is cancelled, which also stops it.
      const held = found.status === "cancelled" ? "none" : "maybe";
      await book.apply(entry.entryId, { type: "failed", reason: "abandoned", held }, undefined, untouched);
    }
    report.settled++;
    return false;
  }
  if (entry.state === "entered" || entry.state === "won") return true;
  if (entry.auth === "owed") {
    if (!mayCall) return false;
    const after = await (await gateway()).cancelAuthorization(authorizationOf(entry));
    if (after.status === "captured") {
      // Only a winner is captured, and a winner never leaves the draw: this must not happen.
      logEvent("error", "an entry that left a draw was captured", { product, entryId: entry.entryId });
    } else if (!RELEASED.has(after.status)) {
      return false;
    }
    await book.apply(entry.entryId, { type: "auth_cancelled" });
    report.cancelled++;
  }
  if (entry.card === "held" && entry.fingerprint) {
    await drawBook(env, product, cardShard(product, entry.fingerprint)).releaseCard(
      entry.fingerprint,
      entry.entryId,
    );
    await book.apply(entry.entryId, { type: "card_released" });
    report.released++;
  }
  return true;
}
