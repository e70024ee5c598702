import { type ChargeArgs, chargeByKey, insertCharge, paymentId, simulatedToken } from "./simulator.ledger";

/** A payment the simulator has not settled yet: waiting for the buyer's challenge, or processing. */
export type OpenPayment = {
  id: string;
  orderId: string;
  amount: { amount: number; currency: string };
  status: "requires_action" | "processing" | "succeeded" | "failed" | "canceled";
  token: string;
};

export type OpenRow = {
  id: string;
  idempotency_key: string;
  order_id: string;
  amount: number;
  currency: string;
  token: string;
  status: OpenPayment["status"];
  settle_at: number | null;
};

export function toOpen(row: OpenRow): OpenPayment {
  return {
    id: row.id,
    orderId: row.order_id,
    amount: { amount: row.amount, currency: row.currency },
    status: row.status,
    token: row.token,
  };
}

/** A processing payment settles this long after it was taken. */
const PROCESSING_SETTLES_MS = 1500;

/** The simulator's payments that do not settle at once (3-D Secure, processing), over its SQLite. */
export class OpenPayments {
  readonly #storage: DurableObjectStorage;
  readonly #sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS open_payments (
        id TEXT PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        order_id TEXT NOT NULL,
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        token TEXT NOT NULL,
        status TEXT NOT NULL,
        settle_at INTEGER
      );
    `);
  }

  byKey(idempotencyKey: string): OpenRow | null {
    return (
      this.#sql
        .exec<OpenRow>("SELECT * FROM open_payments WHERE idempotency_key = ?", idempotencyKey)
        .toArray()[0] ?? null
    );
  }

  byId(id: string): OpenRow | null {
    return this.#sql.exec<OpenRow>("SELECT * FROM open_payments WHERE id = ?", id).toArray()[0] ?? null;
  }

  /** Opens the payment: `tok_processing` processing (settling soon), any other waiting for its challenge. */
  insert(args: ChargeArgs): OpenRow {
    const processing = simulatedToken(args.token).kind === "tok_processing";
    return this.#sql
      .exec<OpenRow>(
        `INSERT INTO open_payments (id, idempotency_key, order_id, amount, currency, token, status, settle_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
        paymentId(),
        args.idempotencyKey,
        args.orderId,
        args.amount,
        args.currency,
        args.token,
        processing ? "processing" : "requires_action",
        processing ? Date.now() + PROCESSING_SETTLES_MS : null,
      )
      .one();
  }

  /** Charges (or fails) an open payment; the ledger and the open payment change in one write. */
  settle(row: OpenRow, succeeds: boolean) {
    this.#storage.transactionSync(() => {
      if (succeeds) {
        const args = {
          idempotencyKey: row.idempotency_key,
          orderId: row.order_id,
          amount: row.amount,
          currency: row.currency,
          token: row.token,
        };
        if (!chargeByKey(this.#sql, row.idempotency_key)) insertCharge(this.#sql, args);
        this.#sql.exec(
          "UPDATE open_payments SET status = 'succeeded', settle_at = NULL WHERE id = ?",
          row.id,
        );
      } else {
        this.#sql.exec("UPDATE open_payments SET status = 'failed', settle_at = NULL WHERE id = ?", row.id);
      }
    });
  }

  /** A payment waiting for its challenge under the key can no longer be passed. */
  cancelWaiting(idempotencyKey: string) {
    this.#sql.exec(
      "UPDATE open_payments SET status = 'canceled' WHERE idempotency_key = ? AND status = 'requires_action'",
      idempotencyKey,
    );
  }

  /** The processing payments whose time to settle has come. */
  due(now: number): OpenRow[] {
    return this.#sql
      .exec<OpenRow>(
        "SELECT * FROM open_payments WHERE status = 'processing' AND settle_at <= ? LIMIT 200",
        now,
      )
      .toArray();
  }

  /** When the next processing payment settles, if one is left. */
  nextSettle(): number | null {
    return this.#sql.exec<{ next: number | null }>("SELECT MIN(settle_at) AS next FROM open_payments").one()
      .next;
  }
}
