import { DurableObject } from "cloudflare:workers";
import { everyBucket, holdCart, releaseBuckets, type ShortSku } from "../../inventory/inventory.holds";
import type { GatewayEvent } from "../../payments/gateway";
import { settings } from "../../shared/config";
import { logEvent } from "../../shared/log";
import { acceptedResponse, newOrderToken, shortage, storedProblem } from "../intake/answers";
import { openResponse, type StoredResponse, sealResponse } from "../intake/idempotency";
import { limitRefusal } from "../intake/limits";
import {
  applyReport,
  backoffMs,
  CLAIM_LOCK_MS,
  close,
  dueAtFor,
  eventChange,
  isOpenPayment,
  KEY_RETENTION_MS,
  nextAttempt,
  owedWork,
  type PaymentReport,
  type PaymentTask,
  RECHECK_SPACING_MS,
} from "../lifecycle/lifecycle";
import type { AcceptedOrder, OrderChange, OrderRow } from "../lifecycle/order";
import { type OrderView, toOrderView } from "../orders.view";
import { GatewayEventArgs, IntakeInput, OrderIds, PaymentReports } from "../protocol";
import { newOrderId } from "../shards";
import type { KeyRow } from "./keys.store";
import { ShardStore } from "./orders.store";
import { type HealReport, ShardWork } from "./work";

export type IntakeAnswer =
  | { kind: "accepted" | "refused" | "replay"; response: StoredResponse; short?: ShortSku[]; timing: string }
  | { kind: "in_use"; retryAfterMs: number }
  | { kind: "mismatch" }
  | { kind: "unavailable"; reason: string };

export type KeyAnswer =
  | { kind: "fresh" }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "in_use"; retryAfterMs: number }
  | { kind: "mismatch" };

/**
 * One shard of the order intake. It is the system of record for the Idempotency-Keys that hash to it
 * and for every order it accepted, from the 202 to the end of its lifecycle: checkout claims the key,
 * holds the stock and records the order and its stored answer here, without D1; the payment consumer
 * takes attempts from here and reports back; the decisions (lifecycle.ts) are made here, on the row as
 * it is, synchronously. Whatever an order still owes (a payment to hand on, stock to commit or give
 * back, a charge to refund or verify) has a due time with its own backoff, and the shard's alarm works
 * through it, so a lost message or a failed call costs seconds, not a cron period. D1 receives a
 * projection of the orders, in batches, for listing.
 */
/**
 * The gateway spoke (an event, the buyer's recheck) while a decision's stock step ran: a decision
 * that closes the order without a charge then has its payment looked up once more, so news of a
 * charge is never overwritten by a decision made before it.
 */
function heardMeanwhile(before: OrderRow, change: OrderChange, now: OrderRow | null): OrderChange {
  if (!now || now.eventAt === before.eventAt) return {};
  const closes = change.status === "payment_failed" || change.status === "cancelled";
  const charged = change.paymentStatus === "succeeded" || change.paymentStatus === "refunded";
  return closes && !charged ? { chargeInDoubt: true } : {};
}

/**
 * The holds a report added (the paying card's allowance) to orders that stay unpaid with their holds
 * pinned: the charge may be in flight, so these are pinned too. Orders whose holds are only held get
 * all of them pinned by their next attempt, or by the commit.
 */
function pinnedWithAddedHolds(decisions: { row: OrderRow; change: OrderChange }[], now: number) {
  return decisions.flatMap(({ row, change }) => {
    const decided = { ...row, ...change };
    const work = owedWork(decided, now);
    if (!change.holds || decided.stock !== "pinned" || work === "commit" || work === "release") return [];
    const holds = change.holds.filter((hold) => !row.holds.some((known) => known.sku === hold.sku));
    return holds.length > 0 ? [{ orderId: row.id, holds }] : [];
  });
}

export class OrderShard extends DurableObject<Env> {
  readonly #store: ShardStore;
  readonly #work: ShardWork;
  /** The alarm time last asked for, so work that comes due later does not re-arm it. */
  #alarmAt: number | null = null;
  #healing: Promise<HealReport> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new ShardStore(ctx.storage.sql);
    this.#work = new ShardWork(this.#store, env, (change) => this.#atomically(change));
    ctx.blockConcurrencyWhile(async () => {
      this.#store.migrate();
      this.#store.outbox.create();
      this.#alarmAt = await ctx.storage.getAlarm();
      // After a restart the alarm may be gone while work is owed (a local runtime that was killed).
      if (this.#alarmAt === null) this.#arm(Date.now());
    });
  }

  #atomically<T>(work: () => T): T {
    return this.ctx.storage.transactionSync(work);
  }

  /** Asks for the alarm at `at` unless one is already due sooner. Synchronous, so it joins the write. */
  #armFor(at: number) {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  /** Sets the alarm for the earliest thing anything here owes (after work, which may have moved it). */
  #arm(now: number) {
    const next = this.#work.nextWorkAt(now);
    const at = next === null ? null : Math.max(next, now);
    if (at === null || at === this.#alarmAt) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  /**
   * Checkout's intake: look the key up (replay, in use, mismatch), claim it (or take over a claim
   * whose request stopped), hold the cart, and record the order with its stored answer in one
   * transaction. The claim carries a fencing token: a request whose claim was taken over can neither
   * complete nor abandon it, and only ever gives back the holds of its own order id.
   */
  async checkout(input: IntakeInput): Promise<IntakeAnswer> {
    const args = IntakeInput.parse(input);
    const started = performance.now();
    const now = Date.now();
    const previous = this.#store.keys.get(args.keyHash);
    const known = this.#standing(previous, args.fingerprint, now);
    if (known && known.kind !== "fresh") {
      return known.kind === "replay"
        ? { kind: "replay", response: await openResponse(args.key, known.sealed), timing: "" }
        : known;
    }
    const token = (previous?.token ?? 0) + 1;
    const orderId = newOrderId(args.shard, now);
    this.#atomically(() => {
      this.#store.keys.claim(
        {
          keyHash: args.keyHash,
          fingerprint: args.fingerprint,
          orderId,
          token,
          lockedUntil: now + CLAIM_LOCK_MS,
          lines: args.lines,
          expiresAt: now + KEY_RETENTION_MS,
        },
        now,
      );
      // A takeover: the stopped request's holds go back (it can no longer record its order).
      if (previous?.state === "in_flight") this.#store.scheduleRelease(previous.orderId, previous.lines, now);
    });
    if (previous?.state === "in_flight") {
      this.#armFor(now);
      // Given back before this attempt holds, so it does not find the stopped one's units, or its
      // customer's allowance, still held against it; if that fails, the alarm gives them back.
      const lines = previous.lines.map((line) => ({ sku: line.sku, buckets: everyBucket(line.buckets) }));
      if (await releaseBuckets(this.env, previous.orderId, lines)) this.#store.releaseDone(previous.orderId);
    }
    const claimed = performance.now();

    const { holdTtlSeconds } = settings(this.env);
    const reservation = await holdCart(this.env, orderId, args.lines, now + holdTtlSeconds * 1000);
    const reserved = performance.now();
    const stillOurs = () => {
      const row = this.#store.keys.get(args.keyHash);
      return row?.state === "in_flight" && row.token === token;
    };

    if (!reservation.ok) {
      if (reservation.leftovers) this.#giveBack(orderId, args.lines);
      if ("unavailable" in reservation) {
        if (stillOurs()) this.#store.keys.drop(args.keyHash);
        logEvent("warn", "intake could not reach inventory", { error: String(reservation.cause) });
        return { kind: "unavailable", reason: "Inventory could not be reached; nothing was held" };
      }
      const { short } = reservation;
      // Past a customer's limit is refused as such, and not kept under the key: it may rest on the
      // customer's other orders, still unpaid, whose allowance comes back if they fail.
      const limited = limitRefusal(reservation.overAllowance);
      if (limited) {
        if (stillOurs()) this.#store.keys.drop(args.keyHash);
        return { kind: "refused", response: await storedProblem(limited, args.requestId), short, timing: "" };
      }
      const response = await storedProblem(shortage(short), args.requestId);
      const sealed = await sealResponse(args.key, response);
      if (!stillOurs()) return { kind: "unavailable", reason: "The request was taken over by a retry" };
      this.#store.keys.complete(args.keyHash, sealed);
      return { kind: "refused", response, short, timing: "" };
    }

    const { token: orderToken, hash } = await newOrderToken();
    const order: AcceptedOrder = {
      id: orderId,
      keyHash: args.keyHash,
      tokenHash: hash,
      items: args.items,
      total: args.total,
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
    if (!stillOurs()) {
      // Taken over while holding: this order id is ours alone, so its holds are ours to give back.
      this.#giveBack(orderId, args.lines);
      return { kind: "unavailable", reason: "The request was taken over by a retry" };
    }
    const resendAt = this.#work.handOn(orderId, Date.now());
    this.#atomically(() => {
      this.#store.insertOrder(order, resendAt);
      this.#store.keys.complete(args.keyHash, sealed);
    });
    this.#armFor(resendAt);
    const recorded = performance.now();
    const timing = [
      `claim;dur=${(claimed - started).toFixed(1)}`,
      `reserve;dur=${(reserved - claimed).toFixed(1)}`,
      `record;dur=${(recorded - reserved).toFixed(1)}`,
    ].join(", ");
    return { kind: "accepted", response, timing };
  }

  /**
   * The key's standing without claiming it, for answers that change nothing (a sold-out refusal, a
   * rate limit, an unknown SKU): a key that holds a stored answer gets that answer instead.
   */
  async lookupKey(key: string, keyHash: string, fingerprint: string): Promise<KeyAnswer> {
    const known = this.#standing(this.#store.keys.get(keyHash), fingerprint, Date.now());
    if (!known) return { kind: "fresh" };
    return known.kind === "replay"
      ? { kind: "replay", response: await openResponse(key, known.sealed) }
      : known;
  }

  #standing(row: KeyRow | null, fingerprint: string, now: number) {
    if (!row || row.expiresAt <= now) return null;
    if (row.fingerprint !== fingerprint) return { kind: "mismatch" as const };
    if (row.state === "done" && row.response) return { kind: "replay" as const, sealed: row.response };
    if (row.lockedUntil > now) return { kind: "in_use" as const, retryAfterMs: row.lockedUntil - now };
    return { kind: "fresh" as const };
  }

  #giveBack(orderId: string, lines: IntakeInput["lines"]) {
    const now = Date.now();
    this.#store.scheduleRelease(orderId, lines, now);
    this.#armFor(now);
  }

  /**
   * An order as its buyer sees it (with what an open payment asks of them), with its token's hash for
   * the caller to check the buyer's token against.
   */
  order(id: string): (OrderView & { tokenHash: string }) | null {
    const row = this.#store.order(id);
    return row ? { ...toOrderView(row, "buyer"), tokenHash: row.tokenHash } : null;
  }

  /**
   * Cancels an order not yet paid: a decision like any other, so its holds go back at once; if a
   * charge may have been made, it is looked up and refunded.
   */
  async cancel(id: string): Promise<{ ok: true; order: OrderView } | { ok: false; status: string } | null> {
    OrderIds.parse([id]);
    const now = Date.now();
    const row = this.#store.order(id);
    if (!row) return null;
    if (row.status !== "cancelled") {
      const paying = row.paymentStatus === "succeeded" || this.#work.settling.has(id);
      if (row.status !== "pending_payment" || paying) {
        return { ok: false, status: row.status === "pending_payment" ? "being paid" : row.status };
      }
      this.#decide(id, close(row, "cancelled", "Cancelled by the buyer", now), now);
      await this.#work.run([id], Date.now());
      this.#arm(Date.now());
    }
    const after = this.#store.order(id);
    return after ? { ok: true, order: toOrderView(after) } : null;
  }

  /**
   * The payment gateway's word that an order's payment changed (a webhook), taken once by its event
   * id. It never decides the payment itself: a pending order is looked at again at once (at once
   * after an attempt now out), and the consumer asks the gateway, so the decision comes from the
   * gateway's present answer and events that arrive late, twice or out of order cannot change it.
   * What an event adds is kept so its order does not matter: the refunded total only grows, and a
   * dispute only moves towards its end. A closed order told of a charge has it looked up (and
   * refunded).
   */
  gatewayEvent(args: GatewayEvent): { known: boolean; duplicate: boolean } {
    const { eventId, orderId, type, detail } = GatewayEventArgs.parse(args);
    const row = this.#store.order(orderId);
    if (!row) return { known: false, duplicate: false };
    if (this.#store.hasGatewayEvent(eventId)) return { known: true, duplicate: true };
    const now = Date.now();
    const change: OrderChange = { ...this.#lookAgain(row, now), ...eventChange(row, type, detail, now) };
    this.#atomically(() => {
      this.#store.recordGatewayEvent(eventId, orderId, type, now);
      this.#store.update(orderId, change, now);
    });
    if (change.dueAt) this.#armFor(change.dueAt);
    return { known: true, duplicate: false };
  }

  /**
   * The buyer says they finished what the payment asked of them (3-D Secure): an open payment is
   * looked at again now, at most once per `RECHECK_SPACING_MS`. Answers the order as it is.
   */
  recheck(id: string): (OrderView & { tokenHash: string }) | null {
    OrderIds.parse([id]);
    const row = this.#store.order(id);
    if (!row) return null;
    const now = Date.now();
    const spaced = row.eventAt === null || now - row.eventAt >= RECHECK_SPACING_MS;
    if (row.status === "pending_payment" && isOpenPayment(row) && spaced) {
      const change = this.#lookAgain(row, now);
      this.#atomically(() => this.#store.update(id, change, now));
      if (change.dueAt) this.#armFor(change.dueAt);
    }
    return this.order(id);
  }

  /** A pending order is due now, or (with an attempt out) the attempt's report brings it back now. */
  #lookAgain(row: OrderRow, now: number): OrderChange {
    const leased = row.leaseUntil !== null && row.leaseUntil > now;
    return row.status === "pending_payment" && !leased
      ? { eventAt: now, dueAt: now, dueAttempts: 0 }
      : { eventAt: now };
  }

  #decide(id: string, change: OrderChange, now: number) {
    this.#atomically(() => this.#store.update(id, change, now));
    if (change.dueAt !== undefined && change.dueAt !== null) this.#armFor(change.dueAt);
  }

  /** Hands out the next payment attempt of each order that is due one (see `nextAttempt`). */
  beginPayments(orderIds: string[]): PaymentTask[] {
    const ids = OrderIds.parse(orderIds);
    const now = Date.now();
    const tasks: PaymentTask[] = [];
    let earliest = Number.POSITIVE_INFINITY;
    this.#atomically(() => {
      for (const id of ids) {
        const row = this.#work.settling.has(id) ? null : this.#store.order(id);
        if (!row) continue;
        const { change, task } = nextAttempt(this.env, row, now);
        this.#store.update(id, change, now);
        if (task) tasks.push(task);
        if (typeof change.dueAt === "number") earliest = Math.min(earliest, change.dueAt);
      }
    });
    if (earliest < Number.POSITIVE_INFINITY) this.#armFor(earliest);
    return tasks;
  }

  /**
   * Takes the payment consumer's reports and decides each order; a decision that pays or closes it
   * settles its stock first (commit for a charge, release for a failure), and the decision is written
   * together with what that step came to, so a buyer sees `paid` once the stock is sold. While the
   * step runs, nothing else decides these orders. Dying before the write loses nothing: the attempt's
   * lease runs out, the gateway is asked, and the same report comes again (the stock steps repeat
   * harmlessly).
   */
  async settlePayments(reports: PaymentReport[]): Promise<void> {
    const parsed = PaymentReports.parse(reports);
    const now = Date.now();
    const settling = this.#work.settling;
    const decisions: { row: OrderRow; change: OrderChange }[] = [];
    for (const report of parsed) {
      const row = settling.has(report.orderId) ? null : this.#store.order(report.orderId);
      if (!row) continue;
      decisions.push({ row, change: applyReport(this.env, row, report, now) });
      settling.add(row.id);
    }
    try {
      const decided = decisions.map(({ row, change }) => ({ ...row, ...change }));
      const owing = (work: "commit" | "release") => decided.filter((row) => owedWork(row, now) === work);
      const [commits, releases, pins] = await Promise.all([
        this.#work.commitStep(owing("commit")),
        this.#work.releaseStep(owing("release")),
        this.#work.pinStep(pinnedWithAddedHolds(decisions, now)),
      ]);
      const written = Date.now();
      this.#atomically(() => {
        for (const { row, change } of decisions) {
          const step = commits.get(row.id) ?? releases.get(row.id) ?? pins.get(row.id);
          if (step === "retry") {
            this.#store.update(row.id, { ...change, dueAt: written + backoffMs(0), dueAttempts: 1 }, written);
            continue;
          }
          const decided = { ...change, ...step, ...heardMeanwhile(row, change, this.#store.order(row.id)) };
          const dueAt = dueAtFor({ ...row, ...decided }, written);
          this.#store.update(row.id, { ...decided, dueAt, dueAttempts: 0 }, written);
        }
      });
    } finally {
      for (const { row } of decisions) settling.delete(row.id);
    }
    this.#arm(Date.now());
  }

  /**
   * Works through everything due now; the alarm and the reconciler both come here. The reconciler
   * also has the projection written at once, so D1 is complete when it answers.
   */
  heal(project = false): Promise<HealReport> {
    const previous = this.#healing;
    // A run already under way covers the alarm; the reconciler waits for it and runs again.
    if (previous && !project) return previous;
    const run = async () => {
      if (previous) await previous.catch(() => undefined);
      try {
        return await this.#work.heal(Date.now(), project);
      } finally {
        if (this.#healing === next) this.#healing = null;
        this.#arm(Date.now());
      }
    };
    const next = run();
    this.#healing = next;
    return next;
  }

  override async alarm() {
    this.#alarmAt = null;
    await this.heal();
  }

  stats() {
    return this.#store.counts(Date.now());
  }

  /** Whether the shard answers at all (for /health); touches no storage. */
  ping(): true {
    return true;
  }
}
