import type { PlannedLine } from "../../inventory/inventory.holds";

/**
 * The Idempotency-Keys of one order shard: a claim (with its fencing token and lock) while the first
 * request runs, then its sealed answer, kept until the key expires. Its table is created with the
 * rest of the shard's schema (order-shard.store.ts).
 */
export type KeyRow = {
  keyHash: string;
  fingerprint: string;
  state: "in_flight" | "done";
  orderId: string;
  token: number;
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
  token: number;
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
    token: raw.token,
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

  claim(row: Omit<KeyRow, "response" | "state">, now: number) {
    this.#sql.exec(
      `INSERT INTO keys (key_hash, fingerprint, state, order_id, token, locked_until, lines, created_at, expires_at)
       VALUES (?, ?, 'in_flight', ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key_hash) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'in_flight',
         order_id = excluded.order_id, token = excluded.token, locked_until = excluded.locked_until,
         lines = excluded.lines, response = NULL, created_at = excluded.created_at,
         expires_at = excluded.expires_at`,
      row.keyHash,
      row.fingerprint,
      row.orderId,
      row.token,
      row.lockedUntil,
      JSON.stringify(row.lines),
      now,
      row.expiresAt,
    );
  }

  complete(keyHash: string, response: string) {
    this.#sql.exec("UPDATE keys SET state = 'done', response = ? WHERE key_hash = ?", response, keyHash);
  }

  drop(keyHash: string) {
    this.#sql.exec("DELETE FROM keys WHERE key_hash = ?", keyHash);
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
