import { shortOfMinimum } from "./minimums";
import {
  type ChargeArgs,
  chargeByKey,
  countAttempt,
  insertCharge,
  paymentId,
  simulatedToken,
} from "./simulator.ledger";
import type { OpenPayment } from "./simulator.open-payments";

/** A simulated hold lapses this long after it was placed, as an online card authorization at Stripe. */
export const AUTHORIZATION_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;

/** Where a hold stands; see SimulatedAuthorization. */
export const HOLD_STATUSES = [
  "requires_action",
  "authorized",
  "captured",
  "cancelled",
  "expired",
  "failed",
] as const;

/**
 * A hold as the simulator keeps it. `expired`: it lapsed uncaptured; `failed`: declined when placed
 * (or its challenge failed) or when captured; `captures`: how many times it was charged, never above 1;
 * `authorizedAt`: when the hold was placed, null if it never was.
 */
export type SimulatedAuthorization = {
  id: string;
  idempotencyKey: string;
  ownerId: string;
  amount: { amount: number; currency: string };
  token: string;
  status: (typeof HOLD_STATUSES)[number];
  reason: string | null;
  chargeId: string | null;
  captures: number;
  createdAt: string;
  authorizedAt: string | null;
  expiresAt: string | null;
  capturedAt: string | null;
  cancelledAt: string | null;
};

/** What a call came to: the hold as it stands (null: none under the key), a refusal, or a 5xx. */
export type AuthorizationAnswer =
  | { ok: true; authorization: SimulatedAuthorization | null }
  | { ok: false; kind: "declined"; reason: string }
  | { ok: false; kind: "error"; status: 500 | 503 | 504; reason: string };

type Row = {
  id: string;
  idempotency_key: string;
  owner_id: string;
  amount: number;
  currency: string;
  token: string;
  status: SimulatedAuthorization["status"];
  reason: string | null;
  charge_id: string | null;
  captures: number;
  created_at: number;
  authorized_at: number | null;
  expires_at: number | null;
  captured_at: number | null;
  cancelled_at: number | null;
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toAuthorization(row: Row): SimulatedAuthorization {
  return {
    id: row.id,
    idempotencyKey: row.idempotency_key,
    ownerId: row.owner_id,
    amount: { amount: row.amount, currency: row.currency },
    token: row.token,
    status: row.status,
    reason: row.reason,
    chargeId: row.charge_id,
    captures: row.captures,
    createdAt: iso(row.created_at) as string,
    authorizedAt: iso(row.authorized_at),
    expiresAt: iso(row.expires_at),
    capturedAt: iso(row.captured_at),
    cancelledAt: iso(row.cancelled_at),
  };
}

/**
 * The simulator's holds, over its SQLite: placed, captured into the charge ledger (so a captured hold
 * is a charge wherever charges are counted), cancelled, or lapsed. Every method is synchronous, so each
 * read-modify-write is atomic in the object; `now` is the clock a hold lapses by.
 */
export class AuthorizationStore {
  readonly #storage: DurableObjectStorage;
  readonly #sql: SqlStorage;
  readonly #now: () => number;

  constructor(storage: DurableObjectStorage, now: () => number = Date.now) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#now = now;
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS authorizations (
        id TEXT PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        owner_id TEXT NOT NULL,
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        token TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        charge_id TEXT,
        captures INTEGER NOT NULL DEFAULT 0 CHECK (captures <= 1),
        created_at INTEGER NOT NULL,
        authorized_at INTEGER,
        expires_at INTEGER,
        captured_at INTEGER,
        cancelled_at INTEGER
      );
    `);
  }

  /**
   * Places a hold as the token says. A repeat under the key answers the hold as it stands: the caller
   * reads a placed hold (captured, cancelled or lapsed since) as the authorization the first call made.
   */
  authorize(args: ChargeArgs): AuthorizationAnswer {
    // Attempts are counted apart from charges, so a hold and a charge never share a count.
    const attempt = countAttempt(this.#sql, `authorization:${args.idempotencyKey}`);
    const existing = this.#row(args.idempotencyKey);
    if (existing) return { ok: true, authorization: toAuthorization(existing) };
    if (shortOfMinimum({ amount: args.amount, currency: args.currency })) {
      return { ok: false, kind: "declined", reason: "amount_too_small" };
    }
    switch (simulatedToken(args.token).kind) {
      case "tok_down":
        return { ok: false, kind: "error", status: 503, reason: "gateway unavailable" };
      case "tok_declined":
        return this.#placed(this.#insert(args, "failed", "card_declined"));
      case "tok_flaky":
        if (attempt <= 2) return { ok: false, kind: "error", status: 500, reason: "gateway error" };
        return this.#placed(this.#insert(args, "authorized"));
      case "tok_timeout_after_charge":
        this.#insert(args, "authorized");
        return { ok: false, kind: "error", status: 504, reason: "gateway timeout" };
      case "tok_ok":
      case "tok_processing":
      case "tok_capture_fails":
        return this.#placed(this.#insert(args, "authorized"));
      case "tok_3ds":
      case "tok_3ds_fail":
        return this.#placed(this.#insert(args, "requires_action"));
      default:
        return { ok: false, kind: "declined", reason: "invalid_token" };
    }
  }

  /**
   * Captures a live hold: one charge in the ledger under the hold's key and the hold `captured`, in one
   * write. A hold captured before answers as it is (never a second charge); one cancelled, lapsed or
   * failed answers as it is, uncharged. `tok_capture_fails` is declined here, and then never charges.
   * The charge belongs to `orderId` when one is named (the order the hold becomes), else to the owner.
   */
  capture(idempotencyKey: string, orderId?: string): SimulatedAuthorization | null {
    return this.#storage.transactionSync(() => {
      const row = this.#row(idempotencyKey);
      if (row?.status !== "authorized") return row ? toAuthorization(row) : null;
      if (simulatedToken(row.token).kind === "tok_capture_fails") {
        return this.#update(row.id, "status = 'failed', reason = 'capture_declined'");
      }
      const charge =
        chargeByKey(this.#sql, idempotencyKey) ??
        insertCharge(this.#sql, {
          idempotencyKey,
          orderId: orderId ?? row.owner_id,
          amount: row.amount,
          currency: row.currency,
          token: row.token,
        });
      return this.#update(
        row.id,
        "status = 'captured', charge_id = ?, captures = captures + 1, captured_at = ?",
        charge.id,
        this.#now(),
      );
    });
  }

  /**
   * Releases a hold (or one still waiting for its challenge), so it can never be captured. Under a key
   * with nothing yet, a cancelled hold is recorded, so a later authorize there places nothing. One
   * captured, failed or lapsed answers as it is.
   */
  cancel(args: ChargeArgs): SimulatedAuthorization {
    return this.#storage.transactionSync(() => {
      const row = this.#row(args.idempotencyKey);
      if (!row) return toAuthorization(this.#insert(args, "cancelled"));
      if (row.status !== "authorized" && row.status !== "requires_action") return toAuthorization(row);
      return this.#update(row.id, "status = 'cancelled', cancelled_at = ?", this.#now());
    });
  }

  lookup(idempotencyKey: string): SimulatedAuthorization | null {
    const row = this.#row(idempotencyKey);
    return row ? toAuthorization(row) : null;
  }

  /** A hold's challenge by its id, or null when the id is no hold's. */
  byId(id: string): SimulatedAuthorization | null {
    const row = this.#sql.exec<Row>("SELECT * FROM authorizations WHERE id = ?", id).toArray()[0];
    return row ? toAuthorization(this.#lapse(row)) : null;
  }

  /** The card holder's answer to a hold's challenge: passing places it (unless `tok_3ds_fail`). */
  answerChallenge(id: string, passed: boolean): SimulatedAuthorization | null {
    const row = this.#sql.exec<Row>("SELECT * FROM authorizations WHERE id = ?", id).toArray()[0];
    if (row?.status !== "requires_action") return row ? toAuthorization(row) : null;
    if (passed && simulatedToken(row.token).kind === "tok_3ds") {
      const now = this.#now();
      return this.#update(
        id,
        "status = 'authorized', authorized_at = ?, expires_at = ?",
        now,
        now + AUTHORIZATION_LIFETIME_MS,
      );
    }
    return this.#update(id, "status = 'failed', reason = 'authentication_failed'");
  }

  /** Every hold, newest first, as it stands now: for audits. */
  list(): SimulatedAuthorization[] {
    this.#sql.exec(
      "UPDATE authorizations SET status = 'expired' WHERE status = 'authorized' AND expires_at <= ?",
      this.#now(),
    );
    return this.#sql
      .exec<Row>("SELECT * FROM authorizations ORDER BY created_at DESC LIMIT 1000")
      .toArray()
      .map(toAuthorization);
  }

  /**
   * Holds in id order after `after`, `limit` at most, as stored (a lapse is written when a hold is next
   * touched), only those in `status` if given: for audits that must see every hold, where `list` stops
   * at the newest thousand, and for waiting until none is left live.
   */
  page(after: string, limit: number, status?: SimulatedAuthorization["status"]): SimulatedAuthorization[] {
    const rows = status
      ? this.#sql.exec<Row>(
          "SELECT * FROM authorizations WHERE id > ? AND status = ? ORDER BY id LIMIT ?",
          after,
          status,
          limit,
        )
      : this.#sql.exec<Row>("SELECT * FROM authorizations WHERE id > ? ORDER BY id LIMIT ?", after, limit);
    return rows.toArray().map(toAuthorization);
  }

  /** The hold under a key as it stands now: a live hold past its time has lapsed. */
  #row(idempotencyKey: string): Row | null {
    const row = this.#sql
      .exec<Row>("SELECT * FROM authorizations WHERE idempotency_key = ?", idempotencyKey)
      .toArray()[0];
    return row ? this.#lapse(row) : null;
  }

  #lapse(row: Row): Row {
    if (row.status !== "authorized" || (row.expires_at ?? Infinity) > this.#now()) return row;
    return this.#sql
      .exec<Row>("UPDATE authorizations SET status = 'expired' WHERE id = ? RETURNING *", row.id)
      .one();
  }

  #insert(args: ChargeArgs, status: Row["status"], reason: string | null = null): Row {
    const now = this.#now();
    const authorized = status === "authorized";
    return this.#sql
      .exec<Row>(
        `INSERT INTO authorizations (id, idempotency_key, owner_id, amount, currency, token, status, reason,
           created_at, authorized_at, expires_at, cancelled_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        paymentId(),
        args.idempotencyKey,
        args.orderId,
        args.amount,
        args.currency,
        args.token,
        status,
        reason,
        now,
        authorized ? now : null,
        authorized ? now + AUTHORIZATION_LIFETIME_MS : null,
        status === "cancelled" ? now : null,
      )
      .one();
  }

  #placed(row: Row): AuthorizationAnswer {
    return { ok: true, authorization: toAuthorization(row) };
  }

  #update(id: string, set: string, ...values: (string | number)[]): SimulatedAuthorization {
    const row = this.#sql
      .exec<Row>(`UPDATE authorizations SET ${set} WHERE id = ? RETURNING *`, ...values, id)
      .one();
    // The ledger's promise: a hold is charged at most once, whatever path reached it.
    if (row.captures > 1) throw new Error(`authorization ${id} captured ${row.captures} times`);
    return toAuthorization(row);
  }
}

/** A hold's challenge as the challenge page shows a payment's: placed (or captured) is passed. */
export function challengeOfHold(hold: SimulatedAuthorization): OpenPayment {
  const status = {
    requires_action: "requires_action",
    authorized: "succeeded",
    captured: "succeeded",
    failed: "failed",
    cancelled: "canceled",
    expired: "canceled",
  } as const;
  return {
    id: hold.id,
    orderId: hold.ownerId,
    amount: hold.amount,
    status: status[hold.status],
    token: hold.token,
  };
}
