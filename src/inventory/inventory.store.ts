import { migrate } from "../shared/sql-schema";

/**
 * The SQLite storage of one inventory object. Every method is synchronous, so a caller that reads
 * and then writes through it cannot be interleaved with another request of the same object.
 * `reserved` is kept as a running total beside `on_hand`, so no operation scans the holds.
 */
export type StockRow = {
  sku: string;
  onHand: number;
  reserved: number;
  committed: number;
  updatedAt: string;
};
export type ReservationState = "held" | "committed" | "released" | "expired" | "refused";
/** A pinned hold has no expiry: a charge may be in flight for it, so only a decision on its order ends it. */
export type Reservation = {
  orderId: string;
  quantity: number;
  state: ReservationState;
  expiresAt: number;
  pinned: boolean;
};
export type LedgerKind = "set" | "adjust" | "hold" | "commit" | "release" | "expire";

/** Each entry upgrades the schema by one version; applied in order, once, in the constructor. */
const MIGRATIONS = [
  `CREATE TABLE stock (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     sku TEXT NOT NULL,
     on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
     reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
     committed INTEGER NOT NULL DEFAULT 0,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE reservations (
     order_id TEXT PRIMARY KEY,
     quantity INTEGER NOT NULL CHECK (quantity >= 0),
     state TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX reservations_state_expiry ON reservations (state, expires_at);
   CREATE TABLE layout (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     buckets INTEGER NOT NULL CHECK (buckets >= 1),
     span INTEGER NOT NULL CHECK (span >= buckets)
   );
   CREATE TABLE ledger (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     kind TEXT NOT NULL,
     quantity INTEGER NOT NULL,
     on_hand_after INTEGER NOT NULL,
     reserved_after INTEGER NOT NULL,
     order_id TEXT,
     reason TEXT
   );`,
  "ALTER TABLE reservations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;",
];

const iso = (ms: number) => new Date(ms).toISOString();

export class StockStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  migrate() {
    migrate(this.#sql, MIGRATIONS);
  }

  stock(): StockRow | null {
    const row = this.#sql
      .exec<{ sku: string; on_hand: number; reserved: number; committed: number; updated_at: string }>(
        "SELECT sku, on_hand, reserved, committed, updated_at FROM stock WHERE id = 1",
      )
      .toArray()[0];
    if (!row) return null;
    return {
      sku: row.sku,
      onHand: row.on_hand,
      reserved: row.reserved,
      committed: row.committed,
      updatedAt: row.updated_at,
    };
  }

  reservation(orderId: string): Reservation | null {
    const row = this.#sql
      .exec<{
        order_id: string;
        quantity: number;
        state: ReservationState;
        expires_at: number;
        pinned: number;
      }>("SELECT order_id, quantity, state, expires_at, pinned FROM reservations WHERE order_id = ?", orderId)
      .toArray()[0];
    return row
      ? {
          orderId: row.order_id,
          quantity: row.quantity,
          state: row.state,
          expiresAt: row.expires_at,
          pinned: row.pinned === 1,
        }
      : null;
  }

  holds(limit: number): { orderId: string; quantity: number; expiresAt: number; pinned: boolean }[] {
    return this.#sql
      .exec<{ order_id: string; quantity: number; expires_at: number; pinned: number }>(
        "SELECT order_id, quantity, expires_at, pinned FROM reservations WHERE state = 'held' ORDER BY expires_at, order_id LIMIT ?",
        limit,
      )
      .toArray()
      .map((row) => ({
        orderId: row.order_id,
        quantity: row.quantity,
        expiresAt: row.expires_at,
        pinned: row.pinned === 1,
      }));
  }

  holdCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM reservations WHERE state = 'held'").one()
      .n;
  }

  dueHolds(now: number): { orderId: string; quantity: number }[] {
    return this.#sql
      .exec<{ order_id: string; quantity: number }>(
        "SELECT order_id, quantity FROM reservations WHERE state = 'held' AND pinned = 0 AND expires_at <= ?",
        now,
      )
      .toArray()
      .map((row) => ({ orderId: row.order_id, quantity: row.quantity }));
  }

  nextExpiry(): number | null {
    return this.#sql
      .exec<{ next: number | null }>(
        "SELECT MIN(expires_at) AS next FROM reservations WHERE state = 'held' AND pinned = 0",
      )
      .one().next;
  }

  setOnHand(sku: string, onHand: number, now: number) {
    this.#sql.exec(
      `INSERT INTO stock (id, sku, on_hand, reserved, committed, updated_at) VALUES (1, ?, ?, 0, 0, ?)
       ON CONFLICT (id) DO UPDATE SET on_hand = excluded.on_hand, committed = 0, updated_at = excluded.updated_at`,
      sku,
      onHand,
      iso(now),
    );
  }

  addOnHand(delta: number, now: number) {
    this.#sql.exec("UPDATE stock SET on_hand = on_hand + ?, updated_at = ? WHERE id = 1", delta, iso(now));
  }

  /** Records what an order got here (nothing, for a remembered refusal) and holds it. */
  hold(orderId: string, quantity: number, expiresAt: number, now: number) {
    this.#sql.exec(
      `INSERT INTO reservations (order_id, quantity, state, expires_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (order_id) DO UPDATE SET quantity = excluded.quantity, state = excluded.state,
         expires_at = excluded.expires_at, pinned = 0, updated_at = excluded.updated_at`,
      orderId,
      quantity,
      quantity > 0 ? "held" : "refused",
      expiresAt,
      now,
    );
    if (quantity > 0) {
      this.#sql.exec(
        "UPDATE stock SET reserved = reserved + ?, updated_at = ? WHERE id = 1",
        quantity,
        iso(now),
      );
    }
  }

  /** Ends a hold: a commit also takes its units off the shelf; a release or expiry only frees them. */
  settle(hold: Reservation, to: "committed" | "released" | "expired", now: number) {
    this.#sql.exec(
      "UPDATE reservations SET state = ?, updated_at = ? WHERE order_id = ?",
      to,
      now,
      hold.orderId,
    );
    const sold = to === "committed" ? hold.quantity : 0;
    this.#sql.exec(
      `UPDATE stock SET reserved = reserved - ?, on_hand = on_hand - ?, committed = committed + ?, updated_at = ?
       WHERE id = 1`,
      hold.quantity,
      sold,
      sold,
      iso(now),
    );
  }

  pin(orderId: string, now: number) {
    this.#sql.exec("UPDATE reservations SET pinned = 1, updated_at = ? WHERE order_id = ?", now, orderId);
  }

  forget(orderId: string) {
    this.#sql.exec("DELETE FROM reservations WHERE order_id = ?", orderId);
  }

  /** Appends a movement to the ledger with the counts it left behind, in one statement. */
  record(
    kind: LedgerKind,
    quantity: number,
    now: number,
    orderId: string | null = null,
    reason: string | null = null,
  ) {
    this.#sql.exec(
      `INSERT INTO ledger (at, kind, quantity, on_hand_after, reserved_after, order_id, reason)
       SELECT ?, ?, ?, on_hand, reserved, ?, ? FROM stock WHERE id = 1`,
      iso(now),
      kind,
      quantity,
      orderId,
      reason,
    );
  }

  ledger(limit: number) {
    return this.#sql
      .exec<{
        seq: number;
        at: string;
        kind: LedgerKind;
        quantity: number;
        on_hand_after: number;
        reserved_after: number;
        order_id: string | null;
        reason: string | null;
      }>("SELECT * FROM ledger ORDER BY seq DESC LIMIT ?", limit)
      .toArray()
      .map((row) => ({
        seq: row.seq,
        at: row.at,
        kind: row.kind,
        quantity: row.quantity,
        onHandAfter: row.on_hand_after,
        reservedAfter: row.reserved_after,
        orderId: row.order_id,
        reason: row.reason,
      }));
  }

  layout(): { buckets: number; span: number } {
    const row = this.#sql
      .exec<{ buckets: number; span: number }>("SELECT buckets, span FROM layout WHERE id = 1")
      .toArray()[0];
    return row ?? { buckets: 1, span: 1 };
  }

  setLayout(buckets: number, span: number) {
    this.#sql.exec(
      `INSERT INTO layout (id, buckets, span) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET buckets = excluded.buckets, span = excluded.span`,
      buckets,
      span,
    );
  }

  /** Drops settled reservations older than `before`; the ledger keeps their history. */
  prune(before: number) {
    this.#sql.exec("DELETE FROM reservations WHERE state != 'held' AND updated_at < ?", before);
  }
}
