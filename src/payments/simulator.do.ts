import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { sha256Hex } from "../shared/crypto";
import { logEvent } from "../shared/log";
import type { GatewayEvent, GatewayEventListener } from "./gateway";
import { shortOfMinimum } from "./minimums";
import {
  type AuthorizationAnswer,
  AuthorizationStore,
  challengeOfHold,
  HOLD_STATUSES,
  type SimulatedAuthorization,
} from "./simulator.authorizations";
import {
  ChargeArgs,
  type ChargeRow,
  challengeUrl,
  chargeByKey,
  countAttempt,
  type FaultMode,
  faultIn,
  insertCharge,
  type SimulatedCharge,
  simulatedToken,
  toCharge,
  underFault,
} from "./simulator.ledger";
import { type OpenPayment, OpenPayments, type OpenRow, toOpen } from "./simulator.open-payments";
import { breakNextRefunds, refundCharge, type SimulatedRefund, takeRefundFault } from "./simulator.refunds";

/**
 * The payment gateway Stampede runs against locally and in tests. Its behaviour is chosen by the
 * payment token, as a sandbox card number would choose it:
 * - `tok_ok`: the charge succeeds;
 * - `tok_declined`: a permanent decline;
 * - `tok_flaky`: the first 2 attempts fail with a 5xx, then the charge succeeds;
 * - `tok_timeout_after_charge`: the first attempt charges and then times out;
 * - `tok_down`: every attempt fails with a 5xx;
 * - `tok_3ds`: the buyer must pass a challenge (3-D Secure) on the simulator's page; passing it
 *   charges, failing it or letting it lapse charges nothing;
 * - `tok_3ds_fail`: the same challenge, which the buyer always fails;
 * - `tok_processing`: the payment is taken and settles (succeeds) a moment later, announced by an
 *   event as a gateway's webhook would announce it.
 * Any of them may name its card: `tok_ok.card_<id>` behaves as `tok_ok`, paid with card `<id>`
 * (1-64 letters, digits, `_` or `-`), whose fingerprint is a hash of the id, so every token naming
 * the same id is the same card. A token without `.card_` has no fingerprint, like a gateway that
 * gives none. Reading a fingerprint always answers, whatever the token's behaviour.
 * Charges are kept in a ledger keyed by idempotency key, so a repeated charge never charges twice. An
 * amount below the currency's minimum charge (minimums.ts) is declined `amount_too_small`, uncharged,
 * whatever the token, as Stripe refuses it.
 * Holds (authorize, then capture or cancel; simulator.authorizations.ts) go by the same tokens:
 * - `tok_ok` (and `tok_processing`, a hold having nothing to process): the hold is placed;
 * - `tok_declined`: the hold is declined; `tok_down`: every attempt fails with a 5xx;
 * - `tok_flaky`: the first 2 attempts to place it fail with a 5xx, then it is placed;
 * - `tok_timeout_after_charge`: the first attempt places the hold and then times out;
 * - `tok_3ds` / `tok_3ds_fail`: the same challenge first; passing it places the hold;
 * - `tok_capture_fails`: the hold is placed, and its capture is declined (nothing is ever charged).
 * A hold lapses 7 days after it was placed; captured, it is one charge in the ledger under its key.
 * The fault switch (breakCharges) applies to placing, capturing and cancelling holds as to charges.
 */
export type SimulatorAnswer =
  | { ok: true; charge: SimulatedCharge }
  | { ok: false; kind: "declined"; reason: string }
  | { ok: false; kind: "error"; status: 500 | 503 | 504; reason: string }
  | { ok: false; kind: "requires_action"; intentId: string; url: string }
  | { ok: false; kind: "processing"; intentId: string };

export type SimulatorLookup =
  | { kind: "charge"; charge: SimulatedCharge }
  | { kind: "open"; payment: OpenPayment; url: string }
  | null;

/**
 * Where the simulator's events go, as a gateway's webhooks go to the endpoint a shop configured: the
 * worker's entry names the listener when it starts.
 */
let listener: GatewayEventListener | null = null;

export function sendSimulatorEventsTo(next: GatewayEventListener) {
  listener = next;
}

export class GatewaySimulator extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #holds: AuthorizationStore;
  readonly #open: OpenPayments;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS charges (
          id TEXT PRIMARY KEY,
          idempotency_key TEXT NOT NULL UNIQUE,
          order_id TEXT NOT NULL,
          amount INTEGER NOT NULL,
          currency TEXT NOT NULL,
          status TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS charges_order ON charges (order_id);
        CREATE TABLE IF NOT EXISTS attempts (idempotency_key TEXT PRIMARY KEY, count INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS withdrawals (idempotency_key TEXT PRIMARY KEY, at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS refunds (
          idempotency_key TEXT PRIMARY KEY,
          id TEXT NOT NULL,
          charge_id TEXT NOT NULL,
          amount INTEGER NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS refund_faults (id INTEGER PRIMARY KEY CHECK (id = 1), left INTEGER NOT NULL, mode TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS charge_faults (id INTEGER PRIMARY KEY CHECK (id = 1), mode TEXT NOT NULL, until INTEGER NOT NULL, delay_ms INTEGER NOT NULL);
      `);
      const columns = this.#sql.exec<{ name: string }>("PRAGMA table_info(charges)").toArray();
      if (!columns.some((column) => column.name === "refunded_amount")) {
        this.#sql.exec("ALTER TABLE charges ADD COLUMN refunded_amount INTEGER NOT NULL DEFAULT 0");
        this.#sql.exec("UPDATE charges SET refunded_amount = amount WHERE status = 'refunded'");
      }
    });
    this.#holds = new AuthorizationStore(ctx.storage);
    this.#open = new OpenPayments(ctx.storage);
  }

  #existing(idempotencyKey: string): SimulatedCharge | null {
    return chargeByKey(this.#sql, idempotencyKey);
  }

  #create(args: ChargeArgs): SimulatedCharge {
    return insertCharge(this.#sql, args);
  }

  charge(input: z.input<typeof ChargeArgs>): SimulatorAnswer {
    const parsed = ChargeArgs.safeParse(input);
    if (!parsed.success) return { ok: false, kind: "declined", reason: "invalid_request" };
    const args = parsed.data;
    const attempt = countAttempt(this.#sql, args.idempotencyKey);
    const existing = this.#existing(args.idempotencyKey);
    // Withdrawn before anything was charged (as Stripe cancels a PaymentIntent): never charged after.
    if (!existing && this.#withdrawn(args.idempotencyKey)) {
      return { ok: false, kind: "declined", reason: "payment_intent_unexpected_state" };
    }
    // Below the currency's minimum charge Stripe creates no payment at all; nor does the simulator.
    if (!existing && shortOfMinimum({ amount: args.amount, currency: args.currency })) {
      return { ok: false, kind: "declined", reason: "amount_too_small" };
    }
    switch (simulatedToken(args.token).kind) {
      case "tok_down":
        return { ok: false, kind: "error", status: 503, reason: "gateway unavailable" };
      case "tok_declined":
        return { ok: false, kind: "declined", reason: "card_declined" };
      case "tok_flaky":
        if (attempt <= 2) return { ok: false, kind: "error", status: 500, reason: "gateway error" };
        return { ok: true, charge: existing ?? this.#create(args) };
      case "tok_timeout_after_charge":
        if (attempt === 1) {
          this.#create(args);
          return { ok: false, kind: "error", status: 504, reason: "gateway timeout" };
        }
        return { ok: true, charge: existing ?? this.#create(args) };
      case "tok_ok":
        return { ok: true, charge: existing ?? this.#create(args) };
      case "tok_3ds":
      case "tok_3ds_fail":
      case "tok_processing":
        return existing ? { ok: true, charge: existing } : this.#openPayment(args);
      default:
        return { ok: false, kind: "declined", reason: "invalid_token" };
    }
  }

  /**
   * A payment that does not settle at once. Asked again under the same key, it answers as it stands:
   * still waiting, or declined once the challenge failed or lapsed.
   */
  #openPayment(args: ChargeArgs): SimulatorAnswer {
    let row = this.#open.byKey(args.idempotencyKey);
    if (!row) {
      row = this.#open.insert(args);
      if (row.settle_at !== null) void this.ctx.storage.setAlarm(row.settle_at);
    }
    if (row.status === "requires_action") {
      return { ok: false, kind: "requires_action", intentId: row.id, url: challengeUrl(row.id) };
    }
    if (row.status === "processing") return { ok: false, kind: "processing", intentId: row.id };
    return { ok: false, kind: "declined", reason: "authentication_failed" };
  }

  /** The challenge a buyer is shown, by the payment's id (unguessable, like a client secret). */
  challenge(id: string): OpenPayment | null {
    const row = this.#open.byId(id);
    if (row) return toOpen(row);
    const hold = this.#holds.byId(id);
    return hold ? challengeOfHold(hold) : null;
  }

  /**
   * The buyer's answer to a challenge. Passing it charges (unless the card always fails it); either
   * way the order's shard hears of it, as a gateway's webhook would tell it. A challenge already
   * answered, or withdrawn, stays as it is.
   */
  async answerChallenge(id: string, passed: boolean): Promise<OpenPayment | null> {
    const row = this.#open.byId(id);
    if (!row) {
      const hold = this.#holds.answerChallenge(id, passed);
      return hold ? challengeOfHold(hold) : null;
    }
    if (row.status !== "requires_action") return toOpen(row);
    const succeeds = passed && simulatedToken(row.token).kind === "tok_3ds";
    this.#open.settle(row, succeeds);
    await this.#announce(row, succeeds ? "payment_intent.succeeded" : "payment_intent.payment_failed");
    return toOpen(this.#open.byId(id) as OpenRow);
  }

  /**
   * Tells the order's shard, as a webhook would. A lost announcement costs time, not the payment: the
   * shard asks again when the order's own retry comes due.
   */
  async #announce(row: OpenRow, type: string) {
    await this.#tell({ eventId: `evt_${row.id}_${type}`, orderId: row.order_id, type });
  }

  async #tell(event: GatewayEvent) {
    if (!listener) {
      logEvent("error", "simulated event not delivered: no listener", {
        type: event.type,
        orderId: event.orderId,
      });
      return;
    }
    await listener(this.env, event).catch((error: unknown) =>
      logEvent("warn", "simulated event not delivered", { error: String(error) }),
    );
  }

  #withdrawn(idempotencyKey: string): boolean {
    return (
      this.#sql.exec("SELECT 1 FROM withdrawals WHERE idempotency_key = ?", idempotencyKey).toArray().length >
      0
    );
  }

  /**
   * Withdraws the payment under a key, as Stripe cancels a PaymentIntent (creating it first if no
   * attempt got as far): one waiting for its challenge can no longer be passed, and a charge that
   * arrives under the key afterwards is refused. A charge already made, and a payment processing
   * (which cannot be cancelled), are answered as they stand.
   */
  abandon(idempotencyKey: string): SimulatorLookup {
    if (this.#chargeFault()?.mode === "fail") throw new Error("simulated gateway outage: cancel failed");
    this.ctx.storage.transactionSync(() => {
      if (this.#existing(idempotencyKey)) return;
      const open = this.#open.byKey(idempotencyKey);
      if (open?.status === "processing") return;
      this.#open.cancelWaiting(idempotencyKey);
      this.#sql.exec(
        "INSERT INTO withdrawals (idempotency_key, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        idempotencyKey,
        Date.now(),
      );
    });
    return this.lookup(idempotencyKey);
  }

  /** Settles the processing payments whose time has come, and tells their shards. */
  override async alarm() {
    for (const row of this.#open.due(Date.now())) {
      this.#open.settle(row, true);
      await this.#announce(row, "payment_intent.succeeded");
    }
    const next = this.#open.nextSettle();
    if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, Date.now() + 100));
  }

  /** The fingerprint of the card a token names (a hash of its id), or null for a token naming none. */
  async fingerprint(token: string): Promise<string | null> {
    const { card } = simulatedToken(z.string().max(255).parse(token));
    return card === null ? null : `fp_sim_${(await sha256Hex(`simulated card|${card}`)).slice(0, 24)}`;
  }

  /**
   * Several charges in one call, each answered as if alone: what a batch API of a gateway does. While
   * a charge fault is on (see breakCharges) the whole call goes as the fault says.
   */
  async chargeMany(inputs: z.input<typeof ChargeArgs>[]): Promise<SimulatorAnswer[]> {
    const batch = inputs.slice(0, 1000);
    return underFault(this.#chargeFault(), batch.length, () => batch.map((input) => this.charge(input)));
  }

  /**
   * Makes the gateway misbehave for `seconds`, for load tests that inject faults (never on a shop's own
   * say: only the fault-injection routes call it, and they exist only where FAULT_INJECTION is on):
   * - `fail`: every charge answers 503 without charging, and lookups fail (the gateway is down);
   * - `timeout`: every charge waits `delayMs`, then answers 504 without charging;
   * - `lose`: charges are made, but each success is answered 504, so the caller must look it up.
   * `seconds` 0 ends the fault at once. A fault ends by itself when its time is up.
   */
  breakCharges(mode: FaultMode, seconds: number, delayMs = 0) {
    z.tuple([
      z.enum(["fail", "timeout", "lose"]),
      z.number().int().min(0).max(3600),
      z.number().int().min(0).max(30_000),
    ]).parse([mode, seconds, delayMs]);
    this.#sql.exec(
      `INSERT INTO charge_faults (id, mode, until, delay_ms) VALUES (1, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, until = excluded.until, delay_ms = excluded.delay_ms`,
      mode,
      Date.now() + seconds * 1000,
      delayMs,
    );
  }

  /** The charge fault in force now, if any. */
  chargeFault(): { mode: FaultMode; delayMs: number; endsInMs: number } | null {
    const fault = this.#chargeFault();
    return fault ? { mode: fault.mode, delayMs: fault.delayMs, endsInMs: fault.until - Date.now() } : null;
  }

  #chargeFault() {
    return faultIn(this.#sql);
  }

  lookup(idempotencyKey: string): SimulatorLookup {
    if (this.#chargeFault()?.mode === "fail") throw new Error("simulated gateway outage: lookup failed");
    const charge = this.#existing(idempotencyKey);
    if (charge) return { kind: "charge", charge };
    const open = this.#open.byKey(idempotencyKey);
    return open ? { kind: "open", payment: toOpen(open), url: challengeUrl(open.id) } : null;
  }

  /**
   * Refunds `amount` of a charge (all that is left without one), once per idempotency key as Stripe
   * does: a repeat answers the refund already made, whatever is left now. More than is left is refused,
   * as is a charge refunded in full (simulator.refunds.ts). A refund made is announced as Stripe
   * announces `charge.refunded`, with the charge's refunded total.
   */
  async refund(chargeId: string, idempotencyKey: string, amount?: number): Promise<SimulatedRefund> {
    z.tuple([
      z.string().min(1).max(255),
      z.string().min(1).max(255),
      z.number().int().min(1).optional(),
    ]).parse([chargeId, idempotencyKey, amount]);
    const fault = takeRefundFault(this.#sql);
    if (fault === "before")
      return { ok: false, kind: "error", reason: "simulated gateway 503 before the refund" };
    const answer = refundCharge(this.ctx.storage, chargeId, idempotencyKey, amount);
    if (answer.ok && !answer.replayed) {
      const charge = this.#sql.exec<ChargeRow>("SELECT * FROM charges WHERE id = ?", chargeId).one();
      await this.#tell({
        eventId: `evt_${answer.refundId}_charge.refunded`,
        orderId: charge.order_id,
        type: "charge.refunded",
        detail: { refunded: { amount: charge.refunded_amount, currency: charge.currency } },
      });
    }
    if (fault === "after" && answer.ok) {
      return { ok: false, kind: "error", reason: "simulated gateway timeout after the refund was made" };
    }
    return answer;
  }

  /**
   * Makes the next `count` refund calls fail as a gateway that is down does: with a 503 before doing
   * anything (`before`), or timing out after the refund was made (`after`), so its answer is lost.
   */
  breakRefunds(count: number, mode: "before" | "after") {
    z.tuple([z.number().int().min(0).max(1000), z.enum(["before", "after"])]).parse([count, mode]);
    breakNextRefunds(this.#sql, count, mode);
  }

  /** Places a hold (see the tokens above); the fault switch applies. */
  authorize(input: z.input<typeof ChargeArgs>): Promise<AuthorizationAnswer> {
    const parsed = ChargeArgs.safeParse(input);
    if (!parsed.success) return Promise.resolve({ ok: false, kind: "declined", reason: "invalid_request" });
    return this.#oneUnderFault(() => this.#holds.authorize(parsed.data));
  }

  /**
   * Captures the hold under a key, once; the fault switch applies. The charge is the order's named
   * (else the hold owner's), so the events about it (refunds) go to that order.
   */
  capture(idempotencyKey: string, orderId?: string): Promise<AuthorizationAnswer> {
    const [key, order] = z
      .tuple([z.string().min(1).max(255), z.string().min(1).max(64).optional()])
      .parse([idempotencyKey, orderId]);
    return this.#oneUnderFault(() => ({ ok: true, authorization: this.#holds.capture(key, order) }));
  }

  /** Releases the hold under a key (recording a cancelled one if none is there); faults apply. */
  cancelAuthorization(input: z.input<typeof ChargeArgs>): Promise<AuthorizationAnswer> {
    const args = ChargeArgs.parse(input);
    return this.#oneUnderFault(() => ({ ok: true, authorization: this.#holds.cancel(args) }));
  }

  /** The hold under a key as it stands; fails while the gateway is down, as lookups of charges do. */
  lookupAuthorization(idempotencyKey: string): SimulatedAuthorization | null {
    if (this.#chargeFault()?.mode === "fail") throw new Error("simulated gateway outage: lookup failed");
    return this.#holds.lookup(z.string().min(1).max(255).parse(idempotencyKey));
  }

  /** Every hold as it stands, newest first, for audits (`captures` is never above 1). */
  authorizations(): SimulatedAuthorization[] {
    return this.#holds.list();
  }

  /** Holds in id order after `after` (every one, a page at a time), optionally in one status, for audits. */
  authorizationsAfter(
    after: string,
    limit: number,
    status?: SimulatedAuthorization["status"],
  ): SimulatedAuthorization[] {
    return this.#holds.page(
      z.string().max(64).parse(after),
      z.number().int().min(1).max(1000).parse(limit),
      z.enum(HOLD_STATUSES).optional().parse(status),
    );
  }

  async #oneUnderFault(work: () => AuthorizationAnswer): Promise<AuthorizationAnswer> {
    const [answer] = await underFault(this.#chargeFault(), 1, () => [work()]);
    return answer as AuthorizationAnswer;
  }

  charges(orderId?: string): SimulatedCharge[] {
    const rows = orderId
      ? this.#sql.exec<ChargeRow>("SELECT * FROM charges WHERE order_id = ? ORDER BY created_at", orderId)
      : this.#sql.exec<ChargeRow>("SELECT * FROM charges ORDER BY created_at DESC LIMIT 1000");
    return rows.toArray().map(toCharge);
  }
}
