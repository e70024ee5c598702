import {
  CapChanging,
  type CartReservation,
  everyBucket,
  holdCarts,
  type PlannedLine,
  releaseBuckets,
  type ShortSku,
} from "../../inventory/inventory.holds";
import { settings } from "../../shared/config";
import { logEvent } from "../../shared/log";
import { acceptedResponse, newOrderToken, shortage, storedProblem } from "../intake/answers";
import { openResponse, sealResponse } from "../intake/idempotency";
import { limitRefusal } from "../intake/limits";
import type { AcceptedOrder } from "../lifecycle/order";
import { backoffMs } from "../lifecycle/timing";
import type { IntakeAnswer, IntakeInput, KeyAnswer, StoredResponse } from "../protocol";
import { newOrderId } from "../shards";
import type { KeyRow } from "./keys.store";
import type { OrderLoop } from "./loop";
import type { ShardStore } from "./orders.store";

/** A claim on an Idempotency-Key is locked this long; a retry after it takes the claim over. */
const CLAIM_LOCK_MS = 30_000;
/** Keys are kept at least 24 h, as the contract promises; the shard drops them after this. */
const KEY_RETENTION_MS = 48 * 3600 * 1000;

/**
 * A shard runs one batch of checkouts at a time while it is quick: whoever arrives meanwhile waits and
 * goes with the next batch. A batch under way longer than this (stalled in a slow inventory object)
 * no longer holds the next one back: it stops counting, and the next batch may start. A stalled batch
 * delays the shard's other checkouts by this much at most, however many batches are stalled (up to
 * MAX_IN_FLIGHT).
 */
const OVERTAKE_MS = 100;
/**
 * Batches under way at once, at most, stalled ones included: a bound on what a shard keeps in memory
 * while an object hangs (with WAITING_MAX). At one new batch per OVERTAKE_MS, it is reached only after
 * a stall of MAX_IN_FLIGHT × OVERTAKE_MS; then checkouts wait, and past WAITING_MAX answer 503.
 */
const MAX_IN_FLIGHT = 8;
/**
 * Checkouts waiting for a batch, at most: one beyond it is answered `unavailable` at once (503 with
 * Retry-After at the edge), with nothing claimed or held for it, so a stalled shard sheds load instead
 * of queueing it without end.
 */
const WAITING_MAX = 600;
/** What a key whose checkout waits for its batch tells a request of the same key to wait. */
const WAITING_RETRY_MS = 1000;
/** The most checkouts one batch takes (one bucket call carries a line of each). */
const BATCH_MAX = 200;

/** A checkout waiting for its batch, with how to answer it. */
type Waiting = {
  args: IntakeInput;
  answer: (answer: IntakeAnswer) => void;
  fail: (error: unknown) => void;
};

/** A checkout whose key this batch claimed under a new order id (`previous`: the claim it took over). */
type Claim = { waiting: Waiting; args: IntakeInput; orderId: string; previous: KeyRow | null };

/** What a claimed checkout came to before its write: `unavailable` says whether holds may be left. */
type Outcome =
  | { claim: Claim; failed: unknown }
  | { claim: Claim; unavailable: boolean; reason?: string }
  | {
      claim: Claim;
      refused: { response: StoredResponse; short: ShortSku[]; sealed: string | null };
      leftovers: boolean;
    }
  | {
      claim: Claim;
      accepted: { order: AcceptedOrder; orderToken: string; response: StoredResponse; sealed: string };
    };

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
 *
 * Checkouts go in batches (group commit, see `checkout`), and a batch is its checkouts side by side:
 * each has its own claim and order id, so whatever the list above says of one request holds for each
 * order of a batch that stops at the same await. In particular:
 * - before the claim transaction: nothing is written; the waiting checkouts' callers get an error (the
 *   object went away) and retry with the same key. While a checkout waits, a refusal asked for its key
 *   answers what the key's row stands for (a placed order's 202, a mismatch against it, a claim in
 *   flight), and where the row would answer `fresh`, `in_use`: no refusal is given for a key about to
 *   be claimed. A checkout beyond WAITING_MAX never waits: it answers 503 with nothing written.
 * - after the claim transaction, before or during the batch's bucket calls, or before the record
 *   transaction: every claim of the batch is locked; the alarm (set for the lock's end in the same
 *   turn) gives each up and gives back its holds on every bucket its walk may have touched.
 * - one bucket call of the batch throws (or one order's hold fails inside it): only the orders whose
 *   lines it carried answer 503, and their holds elsewhere go back; the others are answered as usual.
 * - one order of the record transaction cannot be written: its savepoint is rolled back, its holds
 *   are owed back (a release row, written with the others), its key freed, and it answers 503.
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

  /**
   * Checkout's intake, with group commit: a checkout that arrives while a batch is under way waits for
   * it to end (or to be overtaken, see OVERTAKE_MS) and then goes with every other one that waited, as
   * one batch (see #run). At low load each goes alone, at once, as it arrives.
   */
  checkout(args: IntakeInput): Promise<IntakeAnswer> {
    if (this.#waiting.length >= WAITING_MAX) {
      return Promise.resolve({
        kind: "unavailable",
        reason: "Too many checkouts are waiting; nothing was held",
      });
    }
    return new Promise((answer, fail) => {
      this.#waiting.push({ args, answer, fail });
      this.#pump();
    });
  }

  #waiting: Waiting[] = [];
  /** When each batch under way began. */
  #running = new Set<{ at: number }>();
  #overtaking: ReturnType<typeof setTimeout> | null = null;

  #pump() {
    if (this.#waiting.length === 0 || this.#running.size >= MAX_IN_FLIGHT) return;
    const now = Date.now();
    // Only a batch younger than OVERTAKE_MS holds the next one back; a stalled one no longer counts.
    const newest = Math.max(...[...this.#running].map((batch) => batch.at), Number.NEGATIVE_INFINITY);
    if (now - newest < OVERTAKE_MS) {
      // The waiting go when the batch under way ends, or once it has run past OVERTAKE_MS.
      this.#overtaking ??= setTimeout(
        () => {
          this.#overtaking = null;
          this.#pump();
        },
        newest + OVERTAKE_MS - now,
      );
      return;
    }
    const batch = this.#waiting.splice(0, BATCH_MAX);
    const running = { at: now };
    this.#running.add(running);
    this.#run(batch)
      // A fault of the batch as a whole (its storage) fails each of its checkouts; answered ones stay so.
      .catch((error: unknown) => {
        for (const waiting of batch) waiting.fail(error);
      })
      .finally(() => {
        this.#running.delete(running);
        this.#pump();
      });
    this.#pump();
  }

  /**
   * One batch of checkouts: every key looked up and claimed in one transaction; every cart held with
   * one call per inventory object (holdCarts), answered per order; then every order recorded with its
   * sealed answer (and every refusal sealed) in one transaction, each order in a savepoint of its own so
   * one that cannot be written fails alone. The same steps as a checkout alone, each for many.
   */
  async #run(batch: Waiting[]): Promise<void> {
    const started = performance.now();
    const now = Date.now();
    const claimed: Claim[] = [];
    this.#store.transaction(() => {
      for (const waiting of batch) {
        const { args } = waiting;
        const previous = this.#store.keys.get(args.keyHash);
        const known = standing(previous, args.fingerprint, now);
        if (known && known.kind !== "fresh") {
          if (known.kind !== "replay") waiting.answer(known);
          else {
            openResponse(args.key, known.sealed).then(
              (response) => waiting.answer({ kind: "replay", response, timing: "" }),
              waiting.fail,
            );
          }
          continue;
        }
        const orderId = newOrderId(args.shard, now);
        this.#store.keys.claim(
          {
            keyHash: args.keyHash,
            fingerprint: args.fingerprint,
            orderId,
            lockedUntil: now + CLAIM_LOCK_MS,
            lines: args.lines,
            expiresAt: now + KEY_RETENTION_MS,
          },
          now,
        );
        // A takeover: the stopped request's holds go back (it can no longer record its order).
        if (previous?.state === "in_flight")
          this.#store.scheduleRelease(previous.orderId, previous.lines, now);
        claimed.push({ waiting, args, orderId, previous });
      }
    });
    if (claimed.length === 0) return;
    // Should this batch stop here, the alarm gives its claims up once their lock ends.
    this.#hooks.wake(now + CLAIM_LOCK_MS);
    const takeovers = claimed.flatMap(({ previous }) => (previous?.state === "in_flight" ? [previous] : []));
    if (takeovers.length > 0) {
      this.#hooks.wake(now);
      // Given back before these attempts hold, so they do not find the stopped ones' units, or their
      // customers' allowances, still held against them; if that fails, the alarm gives them back.
      await Promise.all(
        takeovers.map(async (previous) => {
          if (await releaseBuckets(this.#env, previous.orderId, everyBucketOf(previous.lines), true)) {
            this.#store.releaseDone(previous.orderId);
          }
        }),
      );
    }
    const claimedAt = performance.now();

    const { holdTtlSeconds } = settings(this.#env);
    const expiresAtMs = now + holdTtlSeconds * 1000;
    const reservations = await holdCarts(
      this.#env,
      claimed.map(({ orderId, args }) => ({ orderId, lines: args.lines, expiresAtMs })),
    );
    const reserved = performance.now();

    const outcomes = await Promise.all(
      claimed.map((claim, i) =>
        this.#prepare(claim, reservations[i] as CartReservation, now).catch(
          (error: unknown): Outcome => ({ claim, failed: error }),
        ),
      ),
    );
    const answers = this.#store.transaction(() => outcomes.map((outcome) => this.#finish(outcome)));
    const timing = [
      `claim;dur=${(claimedAt - started).toFixed(1)}`,
      `reserve;dur=${(reserved - claimedAt).toFixed(1)}`,
      `record;dur=${(performance.now() - reserved).toFixed(1)}`,
    ].join(", ");
    claimed.forEach(({ waiting }, i) => {
      const answer = answers[i] as IntakeAnswer;
      waiting.answer(answer.kind === "accepted" ? { ...answer, timing } : answer);
    });
  }

  /** What one claimed checkout's reservation comes to, up to what is left to write (see #finish). */
  async #prepare(claim: Claim, reservation: CartReservation, now: number): Promise<Outcome> {
    const { args, orderId } = claim;
    if (!reservation.ok) {
      if ("unavailable" in reservation) {
        if (reservation.cause instanceof CapChanging) {
          // Not a refusal (the code is not used up): the buyer retries once the change is through.
          const reason = "A discount code's cap is being changed; nothing was held";
          return { claim, unavailable: reservation.leftovers, reason };
        }
        logEvent("warn", "intake could not reach inventory", { error: String(reservation.cause) });
        return { claim, unavailable: reservation.leftovers };
      }
      const { short } = reservation;
      // Past a customer's limit is refused as such, and not kept under the key: it may rest on the
      // customer's other orders, still unpaid, whose allowance comes back if they fail.
      const limited = limitRefusal(reservation.overAllowance);
      if (limited) {
        const response = await storedProblem(limited, args.requestId);
        return { claim, refused: { response, short, sealed: null }, leftovers: reservation.leftovers };
      }
      const response = await storedProblem(shortage(short), args.requestId);
      const sealed = await sealResponse(args.key, response);
      return { claim, refused: { response, short, sealed }, leftovers: reservation.leftovers };
    }
    const { token: orderToken, hash } = await newOrderToken();
    const order: AcceptedOrder = {
      id: orderId,
      keyHash: args.keyHash,
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
    return { claim, accepted: { order, orderToken, response, sealed } };
  }

  /**
   * Writes one checkout's outcome, inside the batch's transaction, in a savepoint of its own: an order
   * that cannot be written (its invariants, a fault) is not recorded and its holds are owed back, and the
   * others of the batch are written all the same.
   */
  #finish(outcome: Outcome): IntakeAnswer {
    const { claim } = outcome;
    const { keyHash, lines } = claim.args;
    try {
      return this.#store.transaction(() => this.#write(outcome));
    } catch (error) {
      logEvent("error", "a checkout could not be recorded; its holds go back", {
        orderId: claim.orderId,
        error: String(error),
      });
      this.#giveBack(claim.orderId, lines);
      this.#store.keys.drop(keyHash, claim.orderId);
      return { kind: "unavailable", reason: "The order could not be recorded; nothing was kept" };
    }
  }

  #write(outcome: Outcome): IntakeAnswer {
    const { claim } = outcome;
    const { orderId } = claim;
    const { keyHash, lines } = claim.args;
    if ("failed" in outcome) throw outcome.failed;
    if ("unavailable" in outcome) {
      if (outcome.unavailable) this.#giveBack(orderId, lines);
      this.#store.keys.drop(keyHash, orderId);
      return {
        kind: "unavailable",
        reason: outcome.reason ?? "Inventory could not be reached; nothing was held",
      };
    }
    if ("refused" in outcome) {
      if (outcome.leftovers) this.#giveBack(orderId, lines);
      const { response, short, sealed } = outcome.refused;
      if (sealed === null) this.#store.keys.drop(keyHash, orderId);
      else if (!this.#store.keys.complete(keyHash, orderId, sealed)) return takenOver();
      return { kind: "refused", response, short, timing: "" };
    }
    const { order, orderToken, response, sealed } = outcome.accepted;
    // Given up or taken over while holding: this order id is ours alone, so its holds are ours to
    // give back, and nothing is recorded.
    if (!this.#store.keys.holds(keyHash, orderId)) {
      this.#giveBack(orderId, lines);
      return takenOver();
    }
    this.#loop.accept(order, this.#hooks.handOn(orderId, Date.now()), orderToken);
    this.#store.keys.complete(keyHash, orderId, sealed);
    return { kind: "accepted", response, timing: "" };
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
    if (known?.kind === "replay") return { kind: "replay", response: await openResponse(key, known.sealed) };
    if (known && known.kind !== "fresh") return known;
    // Nothing stands under the key, but a checkout of it waiting for its batch is a claim about to be
    // made: as one in flight, whatever its body (which of them claims first is not decided yet).
    if (this.#waiting.some((entry) => entry.args.keyHash === keyHash)) {
      return { kind: "in_use", retryAfterMs: WAITING_RETRY_MS };
    }
    if (known?.kind === "fresh" && row?.state === "in_flight") {
      this.#store.transaction(() => this.giveUp(row, now));
      this.#hooks.wake(now);
    }
    return { kind: "fresh" };
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
