import { everyBucket, holdCart, type PlannedLine, releaseBuckets } from "../../inventory/inventory.holds";
import { settings } from "../../shared/config";
import { logEvent } from "../../shared/log";
import { acceptedResponse, newOrderToken, shortage, storedProblem } from "../intake/answers";
import { openResponse, sealResponse } from "../intake/idempotency";
import { limitRefusal } from "../intake/limits";
import type { AcceptedOrder } from "../lifecycle/order";
import { backoffMs } from "../lifecycle/timing";
import type { IntakeAnswer, IntakeInput, KeyAnswer } from "../protocol";
import { newOrderId } from "../shards";
import type { KeyRow } from "./keys.store";
import type { OrderLoop } from "./loop";
import type { ShardStore } from "./orders.store";

/** A claim on an Idempotency-Key is locked this long; a retry after it takes the claim over. */
const CLAIM_LOCK_MS = 30_000;
/** Keys are kept at least 24 h, as the contract promises; the shard drops them after this. */
const KEY_RETENTION_MS = 48 * 3600 * 1000;

/** What the claims need of the shard around them. */
type ClaimHooks = {
  /** Queues an accepted order for the payments queue; answers when to hand it on again. */
  handOn(orderId: string, now: number): number;
  wake(at: number): void;
};

/**
 * The shard's side of checkout: look the key up (replay, in use, mismatch), claim it (or take over a
 * claim whose request stopped), hold the cart, and record the order with its stored answer in one
 * transaction. A claim is fenced by its order id, new for every claim: a request whose claim was given
 * up (by the alarm, or before a refusal at the edge) or taken over can neither complete nor drop it, and
 * only ever gives back the holds of its own order id.
 *
 * What is left if the request dies (or a call throws) between two awaits:
 * - after the claim, before or during the hold: a claim locked for CLAIM_LOCK_MS, maybe holds under its
 *   order id. The alarm is set for the lock's end; then the claim is given up and its holds given back
 *   (on every bucket its walk may have touched), or a retry takes it over and gives them back first.
 * - after the hold, before the record: the same; the holds go back, no order exists, the key is free.
 * - a stalled request whose claim was given up comes back: its claim is gone (or another's), so it
 *   records nothing, gives back its own holds and answers 503. The order id of a claim given up is
 *   closed at every object it may have touched, so a hold of its that lands later is refused.
 */
export class Claims {
  readonly #store: ShardStore;
  readonly #loop: OrderLoop;
  readonly #env: Env;
  readonly #hooks: ClaimHooks;

  constructor(store: ShardStore, loop: OrderLoop, env: Env, hooks: ClaimHooks) {
    this.#store = store;
    this.#loop = loop;
    this.#env = env;
    this.#hooks = hooks;
  }

  async checkout(args: IntakeInput): Promise<IntakeAnswer> {
    const started = performance.now();
    const now = Date.now();
    const previous = this.#store.keys.get(args.keyHash);
    const known = standing(previous, args.fingerprint, now);
    if (known && known.kind !== "fresh") {
      return known.kind === "replay"
        ? { kind: "replay", response: await openResponse(args.key, known.sealed), timing: "" }
        : known;
    }
    const orderId = newOrderId(args.shard, now);
    const keyHash = args.keyHash;
    this.#store.transaction(() => {
      this.#store.keys.claim(
        {
          keyHash,
          fingerprint: args.fingerprint,
          orderId,
          lockedUntil: now + CLAIM_LOCK_MS,
          lines: args.lines,
          expiresAt: now + KEY_RETENTION_MS,
        },
        now,
      );
      // A takeover: the stopped request's holds go back (it can no longer record its order).
      if (previous?.state === "in_flight") this.#store.scheduleRelease(previous.orderId, previous.lines, now);
    });
    // Should this request stop here, the alarm gives the claim up once its lock ends.
    this.#hooks.wake(now + CLAIM_LOCK_MS);
    if (previous?.state === "in_flight") {
      this.#hooks.wake(now);
      // Given back before this attempt holds, so it does not find the stopped one's units, or its
      // customer's allowance, still held against it; if that fails, the alarm gives them back.
      if (await releaseBuckets(this.#env, previous.orderId, everyBucketOf(previous.lines), true)) {
        this.#store.releaseDone(previous.orderId);
      }
    }
    const claimed = performance.now();

    const { holdTtlSeconds } = settings(this.#env);
    const reservation = await holdCart(this.#env, orderId, args.lines, now + holdTtlSeconds * 1000);
    const reserved = performance.now();

    if (!reservation.ok) {
      if (reservation.leftovers) this.#giveBack(orderId, args.lines);
      if ("unavailable" in reservation) {
        this.#store.keys.drop(keyHash, orderId);
        logEvent("warn", "intake could not reach inventory", { error: String(reservation.cause) });
        return { kind: "unavailable", reason: "Inventory could not be reached; nothing was held" };
      }
      const { short } = reservation;
      // Past a customer's limit is refused as such, and not kept under the key: it may rest on the
      // customer's other orders, still unpaid, whose allowance comes back if they fail.
      const limited = limitRefusal(reservation.overAllowance);
      if (limited) {
        this.#store.keys.drop(keyHash, orderId);
        return { kind: "refused", response: await storedProblem(limited, args.requestId), short, timing: "" };
      }
      const response = await storedProblem(shortage(short), args.requestId);
      const sealed = await sealResponse(args.key, response);
      if (!this.#store.keys.complete(keyHash, orderId, sealed)) return takenOver();
      return { kind: "refused", response, short, timing: "" };
    }

    const { token: orderToken, hash } = await newOrderToken();
    const order: AcceptedOrder = {
      id: orderId,
      keyHash,
      tokenHash: hash,
      items: args.items,
      total: args.total,
      ...(args.pricing ? { pricing: args.pricing } : {}),
      customer: args.customer,
      ...(args.shippingAddress ? { shippingAddress: args.shippingAddress } : {}),
      paymentToken: args.paymentToken,
      ...(args.cardLimits ? { cardLimits: args.cardLimits } : {}),
      holds: reservation.holds,
      holdExpiresAt: reservation.expiresAt,
      createdAt: new Date(now).toISOString(),
    };
    const response = acceptedResponse(order, orderToken);
    const sealed = await sealResponse(args.key, response);
    const recorded = this.#store.transaction(() => {
      // Given up or taken over while holding: this order id is ours alone, so its holds are ours to
      // give back, and nothing is recorded.
      if (!this.#store.keys.holds(keyHash, orderId)) return false;
      this.#loop.accept(order, this.#hooks.handOn(orderId, Date.now()), orderToken);
      this.#store.keys.complete(keyHash, orderId, sealed);
      return true;
    });
    if (!recorded) {
      this.#giveBack(orderId, args.lines);
      return takenOver();
    }
    const timing = [
      `claim;dur=${(claimed - started).toFixed(1)}`,
      `reserve;dur=${(reserved - claimed).toFixed(1)}`,
      `record;dur=${(performance.now() - reserved).toFixed(1)}`,
    ].join(", ");
    return { kind: "accepted", response, timing };
  }

  /**
   * The key's standing for a refusal given without holding anything (sold out, rate limited, an unknown
   * SKU, a drop's rules): a key with a stored answer gets that answer; a claim whose lock ran out is
   * given up first, its holds given back, so the request that made it can no longer place an order under
   * the key the refusal is given for.
   */
  async refusalStanding(key: string, keyHash: string, fingerprint: string): Promise<KeyAnswer> {
    const now = Date.now();
    const row = this.#store.keys.get(keyHash);
    const known = standing(row, fingerprint, now);
    if (!known) return { kind: "fresh" };
    if (known.kind === "replay") return { kind: "replay", response: await openResponse(key, known.sealed) };
    if (known.kind === "fresh" && row?.state === "in_flight") {
      this.#store.transaction(() => this.giveUp(row, now));
      this.#hooks.wake(now);
    }
    return known.kind === "fresh" ? { kind: "fresh" } : known;
  }

  /** Gives a lapsed claim up: its order id's holds are owed back, the key is free. */
  giveUp(claim: KeyRow, now: number) {
    this.#store.scheduleRelease(claim.orderId, claim.lines, now);
    this.#store.keys.drop(claim.keyHash, claim.orderId);
  }

  /** Gives back the holds of checkout attempts that stopped (or were taken over) before recording. */
  async releaseAbandoned(now: number, failed: () => void): Promise<number> {
    const lockEnd = this.#store.keys.nextClaimLockEnd();
    if (lockEnd !== null && lockEnd <= now) {
      this.#store.transaction(() => {
        for (const claim of this.#store.keys.abandonedClaims(now, 100)) this.giveUp(claim, now);
      });
    }
    const due = this.#store.nextRelease();
    if (due === null || due > now) return 0;
    let released = 0;
    for (const { orderId, lines, dueAttempts } of this.#store.dueReleases(now, 100)) {
      if (await releaseBuckets(this.#env, orderId, everyBucketOf(lines), true)) {
        this.#store.releaseDone(orderId);
        released++;
      } else {
        failed();
        this.#store.releaseFailed(orderId, Date.now() + backoffMs(dueAttempts, Math.random));
      }
    }
    return released;
  }

  #giveBack(orderId: string, lines: PlannedLine[]) {
    const now = Date.now();
    this.#store.scheduleRelease(orderId, lines, now);
    this.#hooks.wake(now);
  }
}

const takenOver = (): IntakeAnswer => ({
  kind: "unavailable",
  reason: "The request was taken over by a retry",
});

/** A walk's holds may sit in any bucket the SKU had when it walked: every one is asked to give back. */
const everyBucketOf = (lines: PlannedLine[]) =>
  lines.map((line) => ({ sku: line.sku, buckets: everyBucket(line.buckets) }));

function standing(row: KeyRow | null, fingerprint: string, now: number) {
  if (!row || row.expiresAt <= now) return null;
  if (row.fingerprint !== fingerprint) return { kind: "mismatch" as const };
  if (row.state === "done" && row.response) return { kind: "replay" as const, sealed: row.response };
  if (row.lockedUntil > now) return { kind: "in_use" as const, retryAfterMs: row.lockedUntil - now };
  return { kind: "fresh" as const };
}
