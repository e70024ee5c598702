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

/** The one key under which an entry's authorization is asked for, captured and cancelled. */
export const entryAuthKey = (entryId: string) => `draw-entry-${entryId}`;

export function authorizationOf(entry: EntryRow): AuthorizationRef {
  return {
    orderId: entry.entryId,
    idempotencyKey: entryAuthKey(entry.entryId),
    amount: { amount: entry.amount, currency: entry.currency },
    token: entry.token,
    intentId: entry.intentId,
  };
}

export type SweepReport = {
  looked: number;
  cancelled: number;
  released: number;
  settled: number;
  left: number;
};

/**
 * Works off what entries that left a draw still owe (see entries.store.ts): cancels the authorizations
 * they may hold, gives back their card claims, and settles entries left pending by a request that
 * stopped. Every step is repeatable: a cancel under the entry's key, a release naming the entry, an
 * event the entry machine answers alike twice. Gateway calls go at the gateway's pace; what is not
 * done now is found again at the next sweep (`left`).
 */
export async function sweepDuties(
  env: Env,
  product: string,
  gateway: () => Promise<PaymentGateway>,
  now = Date.now(),
): Promise<SweepReport> {
  const report: SweepReport = { looked: 0, cancelled: 0, released: 0, settled: 0, left: 0 };
  for (let shard = 0; shard < DRAW_SHARDS; shard++) {
    const book = drawBook(env, product, shard);
    const duties = await book.duties(now - STALE_PENDING_MS);
    report.looked += duties.length;
    for (const entry of duties) {
      try {
        const done = await settleDuty(env, product, entry, gateway, report);
        if (!done) report.left++;
      } catch (error) {
        report.left++;
        logEvent("warn", "a draw entry's duty failed; the next sweep tries again", {
          product,
          entryId: entry.entryId,
          error: String(error),
        });
      }
    }
  }
  return report;
}

/** One entry's duties, in order; false when something must wait (the gateway's pace, a stale time). */
async function settleDuty(
  env: Env,
  product: string,
  entry: EntryRow,
  gateway: () => Promise<PaymentGateway>,
  report: SweepReport,
): Promise<boolean> {
  const book = drawBook(env, product, shardOfEntry(entry.entryId) ?? 0);
  if (entry.state === "pending") {
    if (entry.auth === "none") {
      await book.apply(entry.entryId, { type: "failed", reason: "abandoned", authMayExist: false });
      report.settled++;
      return false;
    }
    if ((await gatewayTurns(env, 1)).granted < 1) return false;
    const found = await (await gateway()).lookupAuthorization(authorizationOf(entry));
    if (found.status === "authorized") {
      await book.apply(entry.entryId, {
        type: "authorized",
        intentId: found.intentId ?? entry.intentId ?? entryAuthKey(entry.entryId),
        expiresAt: Date.parse(found.expiresAt),
      });
    } else {
      await book.apply(entry.entryId, {
        type: "failed",
        reason: "abandoned",
        authMayExist: found.status === "requires_action",
      });
    }
    report.settled++;
    return false;
  }
  if (entry.state === "entered" || entry.state === "won") return true;
  if (entry.auth === "owed") {
    if ((await gatewayTurns(env, 1)).granted < 1) return false;
    const after = await (await gateway()).cancelAuthorization(authorizationOf(entry));
    if (after.status === "captured") {
      // Only a winner is captured, and a winner never leaves the draw: this must not happen.
      logEvent("error", "an entry that left a draw was captured", { product, entryId: entry.entryId });
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
