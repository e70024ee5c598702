import type { PlannedLine } from "../../inventory/inventory.holds";

/**
 * The Idempotency-Keys of one order shard: a claim (with its lock) while the first request runs, then
 * its sealed answer, kept until the key expires. A claim is fenced by its order id, which is new for
 * every claim and never repeats: a request whose claim was given up or taken over (the row deleted, or
 * replaced by another request's) can no longer complete or drop it. Its table is created with the rest
 * of the shard's schema (orders.store.ts).
 */
export type KeyRow = {
  keyHash: string;
  fingerprint: string;
  state: "in_flight" | "done";
  orderId: string;
  lockedUntil: number;
  lines: PlannedLine[];
  response: string | null;
  expiresAt: number;
};

type RawKey = {
  key_hash: string;
  fingerprint: string;
  state: "in_flight" | "done";
  order_id: string;
  locked_until: number;
  lines: string;
  response: string | null;
  expires_at: number;
};

function toKey(raw: RawKey): KeyRow {
  return {
    keyHash: raw.key_hash,
    fingerprint: raw.fingerprint,
    state: raw.state,
    orderId: raw.order_id,
    lockedUntil: raw.locked_until,
    lines: JSON.parse(raw.lines),
    response: raw.response,
    expiresAt: raw.expires_at,
  };
}

/** Methods are synchronous: a caller that reads and then writes cannot be interleaved. */
export class KeyStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  get(keyHash: string): KeyRow | null {
    const raw = this.#sql.exec<RawKey>("SELECT * FROM keys WHERE key_hash = ?", keyHash).toArray()[0];
    return raw ? toKey(raw) : null;
  }

  /** Claims the key for a new order id (replacing a lapsed claim, whose request is fenced off by it). */
  claim(row: Omit<KeyRow, "response" | "state">, now: number) {
    this.#sql.exec(
      `INSERT INTO keys (key_hash, fingerprint, state, order_id, locked_until, lines, created_at, expires_at)
       VALUES (?, ?, 'in_flight', ?, ?, ?, ?, ?)
       ON CONFLICT (key_hash) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'in_flight',
         order_id = excluded.order_id, locked_until = excluded.locked_until,
         lines = excluded.lines, response = NULL, created_at = excluded.created_at,
         expires_at = excluded.expires_at`,
      row.keyHash,
      row.fingerprint,
      row.orderId,
      row.lockedUntil,
      JSON.stringify(row.lines),
      now,
      row.expiresAt,
    );
  }

  /** Whether the key is still claimed for this order (its request was neither given up nor taken over). */
  holds(keyHash: string, orderId: string): boolean {
    return (
      this.#sql
        .exec(
          "SELECT 1 FROM keys WHERE key_hash = ? AND order_id = ? AND state = 'in_flight'",
          keyHash,
          orderId,
        )
        .toArray().length > 0
    );
  }

  /** Stores the claim's answer, if the claim is still this order's; answers whether it was. */
  complete(keyHash: string, orderId: string, response: string): boolean {
    return (
      this.#sql.exec(
        "UPDATE keys SET state = 'done', response = ? WHERE key_hash = ? AND order_id = ? AND state = 'in_flight'",
        response,
        keyHash,
        orderId,
      ).rowsWritten > 0
    );
  }

  /** Gives the key back (nothing was placed under it), if the claim is still this order's. */
  drop(keyHash: string, orderId: string) {
    this.#sql.exec(
      "DELETE FROM keys WHERE key_hash = ? AND order_id = ? AND state = 'in_flight'",
      keyHash,
      orderId,
    );
  }

  /** Claims whose request stopped without finishing: their lock ran out by `before`. */
  abandonedClaims(before: number, limit: number): KeyRow[] {
    return this.#sql
      .exec<RawKey>(
        "SELECT * FROM keys WHERE state = 'in_flight' AND locked_until <= ? ORDER BY locked_until LIMIT ?",
        before,
        limit,
      )
      .toArray()
      .map(toKey);
  }

  nextClaimLockEnd(): number | null {
    return this.#sql
      .exec<{ next: number | null }>("SELECT MIN(locked_until) AS next FROM keys WHERE state = 'in_flight'")
      .one().next;
  }

  dropExpired(now: number, limit: number): number {
    return this.#sql.exec(
      "DELETE FROM keys WHERE key_hash IN (SELECT key_hash FROM keys WHERE expires_at <= ? LIMIT ?)",
      now,
      limit,
    ).rowsWritten;
  }

  nextExpiry(): number | null {
    return this.#sql.exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM keys").one().next;
  }
}
