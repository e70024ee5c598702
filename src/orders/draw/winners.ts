import { createHmac } from "node:crypto";
import { drawBook, shardOfEntry } from "../../draws/draws";
import type { EntryRow } from "../../draws/entries.store";
import type { EntryEvent } from "../../draws/entry.machine";
import type { PaymentGateway } from "../../payments/gateway";
import { gatewayTurns } from "../../payments/gateway-pacer.do";
import { sha256Hex } from "../../shared/crypto";
import { logEvent } from "../../shared/log";
import type { Money } from "../../shared/money";
import { drawnChargeViolations } from "../lifecycle/invariants";
import { orderShard, shardOfOrder } from "../shards";
import type { DrawStore, RankedRow } from "./draw.store";
import { DrawnOrder } from "./drawn-order";
import { authorizationOf } from "./duties";

/** Entries given a unit per step of the walk, at most (and never more than the gateway's pace allows). */
const WALK_BATCH = 50;
/** Outcomes told to the books per call. */
const TELL_BATCH = 500;

export type WalkSetup = { product: string; titles: Record<string, string> };

/**
 * The order token of a drawn order: an HMAC of its id under ADMISSION_SECRET, so the winner's entry
 * token can show it again without the token being stored anywhere (only its hash is, in the order).
 */
export function drawnOrderToken(env: Env, orderId: string): string {
  if (!env.ADMISSION_SECRET) throw new Error("draws need ADMISSION_SECRET");
  return createHmac("sha256", env.ADMISSION_SECRET)
    .update(`draw-order|${orderId}`, "utf8")
    .digest("base64url");
}

/**
 * One step of the draw's walk down the ranking. Each entry in rank order whose SKU has a free slot is
 * given that slot (written before anything is asked of the gateway), then its authorization is captured;
 * a capture that succeeded becomes the slot's order (recorded in its shard: it owes its commit, and is
 * paid once the unit is sold), one that failed frees the slot for the next entry in rank. A capture
 * whose outcome is unknown stays `capturing` and is asked again (a capture is idempotent under the
 * entry's key). Answers `done` when no entry is left that could still get a unit.
 */
export async function walk(
  env: Env,
  store: DrawStore,
  setup: WalkSetup,
  gateway: () => Promise<PaymentGateway>,
): Promise<"more" | "wait" | "done"> {
  const free = new Map<string, string[]>();
  for (const slot of store.heldSlots("free"))
    free.set(slot.sku, [...(free.get(slot.sku) ?? []), slot.orderId]);
  const candidates = store.undecided([...free.keys()], WALK_BATCH);
  for (const entry of candidates) {
    const slot = free.get(entry.sku)?.pop();
    if (slot) store.assign(entry.entryId, slot);
  }
  const capturing = store.withOutcome("capturing", WALK_BATCH);
  if (capturing.length === 0) {
    if (candidates.length > 0) return "more";
    return "done";
  }
  const turns = await gatewayTurns(env, capturing.length);
  if (turns.granted === 0) return "wait";
  const results = await Promise.all(
    capturing.slice(0, turns.granted).map((entry) => captureOne(env, store, setup, entry, gateway)),
  );
  return results.includes("wait") || turns.granted < capturing.length ? "wait" : "more";
}

async function captureOne(
  env: Env,
  store: DrawStore,
  setup: WalkSetup,
  ranked: RankedRow,
  gateway: () => Promise<PaymentGateway>,
): Promise<"ok" | "wait"> {
  const slotId = ranked.slot;
  const slot = slotId ? store.slot(slotId) : null;
  const book = drawBook(env, setup.product, shardOfEntry(ranked.entryId) ?? 0);
  try {
    const entry = await book.entry(ranked.entryId);
    if (!slot || !entry) throw new Error(`entry ${ranked.entryId} or its slot is missing`);
    const orderToken = drawnOrderToken(env, slot.orderId);
    const order = await orderOf(setup, slot, entry, orderToken);
    // The order is checked as its shard will check it before any money moves: an entry that cannot
    // become a sound order (a row its pricing contradicts) passes its unit on uncharged, its hold
    // released with the losers', rather than be captured into an order no shard will record.
    const unsound = soundness(order, authorizationOf(entry).amount);
    if (unsound.length > 0) {
      logEvent("error", "a draw's winner cannot become a sound order; its unit is passed on uncharged", {
        product: setup.product,
        entryId: entry.entryId,
        problems: unsound,
      });
      store.passed(entry.entryId, slot.orderId);
      return "ok";
    }
    // The charge names the order it becomes, so refunds and disputes made at the gateway reach it.
    const outcome = await (await gateway()).capture(authorizationOf(entry), slot.orderId);
    switch (outcome.status) {
      case "succeeded": {
        const drawn: DrawnOrder = {
          order,
          chargeId: outcome.chargeId,
          // What the gateway says it captured, which the shard holds to the order's total.
          captured: outcome.captured,
          intentId: outcome.intentId ?? entry.intentId,
          orderToken,
        };
        const shard = shardOfOrder(env, slot.orderId);
        if (shard === null) throw new Error(`slot ${slot.orderId} names no order shard`);
        await orderShard(env, shard).recordDrawn(drawn);
        await book.apply(entry.entryId, { type: "won", chargeId: outcome.chargeId, orderId: slot.orderId });
        store.won(entry.entryId, slot.orderId);
        return "ok";
      }
      case "failed":
        store.passed(entry.entryId, slot.orderId);
        return "ok";
      case "not_authorized":
        // Nothing held at all is final; a hold still waiting (3-D Secure, processing) is asked again.
        if (outcome.state !== "none") return "wait";
        store.passed(entry.entryId, slot.orderId);
        return "ok";
      case "unknown":
      case "throttled":
        return "wait";
    }
  } catch (error) {
    logEvent("warn", "a draw's capture step failed; it is tried again", {
      product: setup.product,
      entryId: ranked.entryId,
      error: String(error),
    });
    return "wait";
  }
}

/** The order a winning entry becomes, as its shard records it. */
async function orderOf(
  setup: WalkSetup,
  slot: NonNullable<ReturnType<DrawStore["slot"]>>,
  entry: EntryRow,
  orderToken: string,
): Promise<DrawnOrder["order"]> {
  const money = (amount: number) => ({ amount, currency: entry.currency });
  return {
    id: slot.orderId,
    keyHash: await sha256Hex(`draw|${entry.entryId}`),
    tokenHash: await sha256Hex(orderToken),
    items: [
      {
        sku: entry.sku,
        productId: setup.product,
        title: setup.titles[entry.sku] ?? entry.sku,
        quantity: 1,
        // One unit: its price is the subtotal its entry was priced with (or, for an entry made before
        // entries were priced, the amount it authorized).
        unitPrice: money(entry.pricing?.subtotal ?? entry.amount),
      },
    ],
    total: money(entry.amount),
    ...(entry.pricing ? { pricing: entry.pricing } : {}),
    customer: { email: entry.email, ...(entry.name ? { name: entry.name } : {}) },
    ...(entry.address ? { shippingAddress: entry.address } : {}),
    paymentToken: entry.token,
    holds: slot.holds,
    holdExpiresAt: slot.holds[0]?.expiresAt ?? new Date().toISOString(),
    createdAt: new Date().toISOString(),
  };
}

/** Why the shard would refuse this order charged `authorized` (none: it is sound). */
function soundness(order: DrawnOrder["order"], authorized: Money): string[] {
  const parsed = DrawnOrder.shape.order.safeParse(order);
  if (!parsed.success) return parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  return drawnChargeViolations(parsed.data, authorized);
}

/**
 * Tells the books what came of the entries that did not win (passed over, or lost): each becomes
 * `lost`, owing the cancel of its authorization, which the sweep makes at the gateway's pace.
 * Answers whether any is left to tell.
 */
export async function tellLosers(env: Env, store: DrawStore, product: string): Promise<boolean> {
  const untold = store.untold(TELL_BATCH);
  const byBook = Map.groupBy(untold, (entry) => shardOfEntry(entry.entryId) ?? 0);
  await Promise.all(
    [...byBook].map(async ([shard, entries]) => {
      const events = entries.map((entry) => ({
        entryId: entry.entryId,
        event: {
          type: "lost",
          reason: entry.outcome === "passed" ? "capture_failed" : "not_drawn",
        } satisfies EntryEvent,
      }));
      await drawBook(env, product, shard).applyMany(events);
      store.markTold(entries.map((entry) => entry.entryId));
    }),
  );
  return untold.length === TELL_BATCH;
}
