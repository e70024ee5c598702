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
  /** The books of this object since its last stock take: see `Books`. */
  books: Books;
};

/**
 * Where every unit on hand came from and went, since the object's last stock take. Each write that
 * changes `on_hand` moves exactly one of these in the same statement, so at every moment
 * `onHand + committed = stocked + adjusted + movedIn - movedOut`.
 */
export type Books = {
  /** Which stock take counted this object; a SKU's buckets share one. */
  stockTake: string;
  stocked: number;
  adjusted: number;
  movedIn: number;
  movedOut: number;
  /** Set on a bucket beyond a shrunk layout: every unit that comes free here moves on to this bucket. */
  drainTo: string | null;
};

/** A durable move of free units between two buckets of a SKU, recorded under one id on both sides. */
export type Transfer = {
  id: string;
  direction: "out" | "in";
  peer: string;
  units: number;
  stockTake: string;
  /** out: open, delivered, returned or superseded; in: received or superseded. */
  state: TransferState;
  attempts: number;
  dueAt: number | null;
};
/**
 * Orders sold and given back, read from the ledger, which no stock take resets: `sold` each order with
 * the units it took here, `returned` the orders whose sale was undone (they did not end paid).
 */
export type Sales = { seq: number; sold: { orderId: string; units: number }[]; returned: string[] };
type TransferState = "open" | "delivered" | "returned" | "superseded" | "received";
type ReservationState = "held" | "committed" | "released" | "expired" | "refused";
/** A pinned hold has no expiry: a charge may be in flight for it, so only a decision on its order ends it. */
export type Reservation = {
  orderId: string;
  quantity: number;
  state: ReservationState;
  expiresAt: number;
  pinned: boolean;
  /** Its order was closed by its shard: no hold may be taken for it again. */
  closed: boolean;
  /** For a committed hold: the stock take it was sold under (null if sold before this was kept). */
  soldIn: string | null;
};
export type LedgerKind =
  | "set"
  | "adjust"
  | "hold"
  | "commit"
  | "release"
  | "return"
  | "expire"
  | "move_out"
  | "move_in"
  | "move_back";

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
  `ALTER TABLE stock ADD COLUMN stock_take TEXT NOT NULL DEFAULT '';
   ALTER TABLE stock ADD COLUMN stocked INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE stock ADD COLUMN adjusted INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE stock ADD COLUMN moved_in INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE stock ADD COLUMN moved_out INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE stock ADD COLUMN drain_to TEXT;
   UPDATE stock SET stocked = on_hand + committed;
   CREATE TABLE transfers (
     id TEXT PRIMARY KEY,
     direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
     peer TEXT NOT NULL,
     units INTEGER NOT NULL CHECK (units > 0),
     stock_take TEXT NOT NULL,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     due_at INTEGER,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX transfers_due ON transfers (state, due_at);
   CREATE TABLE adjustments (
     key TEXT PRIMARY KEY,
     delta INTEGER NOT NULL,
     reason TEXT NOT NULL,
     at INTEGER NOT NULL
   );`,
  // A reservation of an order its shard has closed (no hold may be taken for it again), and the stock
  // take it was sold under (its units are given back only while that stock take stands).
  `ALTER TABLE reservations ADD COLUMN closed INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE reservations ADD COLUMN sold_in TEXT;`,
  // Units of paid orders put back on the shelf by a refund: each share once, under its key.
  `ALTER TABLE reservations ADD COLUMN returned INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE returns (
     key TEXT PRIMARY KEY,
     order_id TEXT NOT NULL,
     quantity INTEGER NOT NULL,
     units INTEGER NOT NULL,
     at INTEGER NOT NULL
   );`,
  // For an allowance object: the version of the limit it follows (a limit changes only to a newer one).
  "ALTER TABLE stock ADD COLUMN allowance_version INTEGER NOT NULL DEFAULT 0;",
  // For a bucket of a discount code's split cap: its share of the cap (see SkuInventory.reserveShare).
  "ALTER TABLE stock ADD COLUMN allowance_share INTEGER NOT NULL DEFAULT 0;",
  // For a bucket of a split cap: 1 open, 2 frozen by a change under way (0: not known to be a bucket,
  // stocked before this column; the first checkout or change to reach it marks it).
  "ALTER TABLE stock ADD COLUMN allowance_split INTEGER NOT NULL DEFAULT 0;",
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

  /** The version of the limit an allowance object follows (0: any limit a cart carries). */
  allowanceVersion(): number {
    const row = this.#sql
      .exec<{ v: number }>("SELECT allowance_version AS v FROM stock WHERE id = 1")
      .toArray()[0];
    return row?.v ?? 0;
  }

  setAllowanceVersion(version: number) {
    this.#sql.exec("UPDATE stock SET allowance_version = ? WHERE id = 1", version);
  }

  /** A bucket of a code's split cap: its share, uses held and used here included. */
  allowanceShare(): number {
    const row = this.#sql
      .exec<{ s: number }>("SELECT allowance_share AS s FROM stock WHERE id = 1")
      .toArray()[0];
    return row?.s ?? 0;
  }

  setAllowanceShare(share: number) {
    this.#sql.exec("UPDATE stock SET allowance_share = ? WHERE id = 1", share);
  }

  /** A bucket of a split cap: 1 open, 2 frozen between a change's two rounds, 0 not marked (yet). */
  splitState(): 0 | 1 | 2 {
    const row = this.#sql
      .exec<{ s: number }>("SELECT allowance_split AS s FROM stock WHERE id = 1")
      .toArray()[0];
    return (row?.s ?? 0) as 0 | 1 | 2;
  }

  setSplitState(state: 1 | 2) {
    this.#sql.exec("UPDATE stock SET allowance_split = ? WHERE id = 1", state);
  }

  stock(): StockRow | null {
    const row = this.#sql
      .exec<{
        sku: string;
        on_hand: number;
        reserved: number;
        committed: number;
        updated_at: string;
        stock_take: string;
        stocked: number;
        adjusted: number;
        moved_in: number;
        moved_out: number;
        drain_to: string | null;
      }>(
        `SELECT sku, on_hand, reserved, committed, updated_at, stock_take, stocked, adjusted, moved_in,
           moved_out, drain_to FROM stock WHERE id = 1`,
      )
      .toArray()[0];
    if (!row) return null;
    return {
      sku: row.sku,
      onHand: row.on_hand,
      reserved: row.reserved,
      committed: row.committed,
      updatedAt: row.updated_at,
      books: {
        stockTake: row.stock_take,
        stocked: row.stocked,
        adjusted: row.adjusted,
        movedIn: row.moved_in,
        movedOut: row.moved_out,
        drainTo: row.drain_to,
      },
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
        closed: number;
        sold_in: string | null;
      }>(
        "SELECT order_id, quantity, state, expires_at, pinned, closed, sold_in FROM reservations WHERE order_id = ?",
        orderId,
      )
      .toArray()[0];
    return row
      ? {
          orderId: row.order_id,
          quantity: row.quantity,
          state: row.state,
          expiresAt: row.expires_at,
          pinned: row.pinned === 1,
          closed: row.closed === 1,
          soldIn: row.sold_in,
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

  /**
   * A stock take: `onHand` is what was counted, the books restart from it, and moves still open from
   * before it are superseded (the count already saw where their units were).
   */
  setOnHand(sku: string, onHand: number, stockTake: string, now: number) {
    this.#sql.exec(
      `INSERT INTO stock (id, sku, on_hand, reserved, committed, updated_at, stock_take, stocked)
       VALUES (1, ?, ?, 0, 0, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET on_hand = excluded.on_hand, committed = 0,
         updated_at = excluded.updated_at, stock_take = excluded.stock_take, stocked = excluded.on_hand,
         adjusted = 0, moved_in = 0, moved_out = 0`,
      sku,
      onHand,
      iso(now),
      stockTake,
      onHand,
    );
    this.#sql.exec(
      "UPDATE transfers SET state = 'superseded', due_at = NULL, updated_at = ? WHERE direction = 'out' AND state = 'open'",
      now,
    );
  }

  /** An adjustment already made under this Idempotency-Key, if any. */
  adjustment(key: string): { delta: number; reason: string } | null {
    return (
      this.#sql
        .exec<{ delta: number; reason: string }>("SELECT delta, reason FROM adjustments WHERE key = ?", key)
        .toArray()[0] ?? null
    );
  }

  rememberAdjustment(key: string, delta: number, reason: string, now: number) {
    this.#sql.exec(
      "INSERT INTO adjustments (key, delta, reason, at) VALUES (?, ?, ?, ?)",
      key,
      delta,
      reason,
      now,
    );
  }

  addOnHand(delta: number, now: number) {
    this.#sql.exec(
      "UPDATE stock SET on_hand = on_hand + ?, adjusted = adjusted + ?, updated_at = ? WHERE id = 1",
      delta,
      delta,
      iso(now),
    );
  }

  drainTo(bucket: string | null) {
    this.#sql.exec("UPDATE stock SET drain_to = ? WHERE id = 1", bucket);
  }

  transfer(id: string): Transfer | null {
    const row = this.#sql.exec<TransferRow>("SELECT * FROM transfers WHERE id = ?", id).toArray()[0];
    return row ? transferOf(row) : null;
  }

  /** Takes `units` free units off the shelf into an open move to `peer`, due for delivery at `dueAt`. */
  sendOut(id: string, peer: string, units: number, now: number, dueAt = now, attempts = 0) {
    this.#sql.exec(
      `INSERT INTO transfers (id, direction, peer, units, stock_take, state, attempts, due_at, updated_at)
       SELECT ?, 'out', ?, ?, stock_take, 'open', ?, ?, ? FROM stock WHERE id = 1`,
      id,
      peer,
      units,
      attempts,
      dueAt,
      now,
    );
    this.#sql.exec(
      "UPDATE stock SET on_hand = on_hand - ?, moved_out = moved_out + ?, updated_at = ? WHERE id = 1",
      units,
      units,
      iso(now),
    );
  }

  /** Puts an open move's units back on this shelf: the other side refused them. */
  takeBack(id: string, units: number, now: number) {
    this.#sql.exec(
      "UPDATE transfers SET state = 'returned', due_at = NULL, updated_at = ? WHERE id = ?",
      now,
      id,
    );
    this.#sql.exec(
      "UPDATE stock SET on_hand = on_hand + ?, moved_out = moved_out - ?, updated_at = ? WHERE id = 1",
      units,
      units,
      iso(now),
    );
  }

  /** Records a move arriving here; `received` also puts its units on the shelf. */
  receive(
    move: { id: string; from: string; units: number; stockTake: string },
    state: "received" | "superseded",
    now: number,
  ) {
    this.#sql.exec(
      `INSERT INTO transfers (id, direction, peer, units, stock_take, state, updated_at)
       VALUES (?, 'in', ?, ?, ?, ?, ?)`,
      move.id,
      move.from,
      move.units,
      move.stockTake,
      state,
      now,
    );
    if (state === "received") {
      this.#sql.exec(
        "UPDATE stock SET on_hand = on_hand + ?, moved_in = moved_in + ?, updated_at = ? WHERE id = 1",
        move.units,
        move.units,
        iso(now),
      );
    }
  }

  delivered(id: string, now: number) {
    this.#sql.exec(
      "UPDATE transfers SET state = 'delivered', due_at = NULL, updated_at = ? WHERE id = ?",
      now,
      id,
    );
  }

  deliveryFailed(id: string, dueAt: number, now: number) {
    this.#sql.exec(
      "UPDATE transfers SET attempts = attempts + 1, due_at = ?, updated_at = ? WHERE id = ?",
      dueAt,
      now,
      id,
    );
  }

  dueTransfers(now: number, limit: number): Transfer[] {
    return this.#sql
      .exec<TransferRow>(
        "SELECT * FROM transfers WHERE state = 'open' AND due_at <= ? ORDER BY due_at LIMIT ?",
        now,
        limit,
      )
      .toArray()
      .map(transferOf);
  }

  nextTransferDue(): number | null {
    return this.#sql
      .exec<{ next: number | null }>("SELECT MIN(due_at) AS next FROM transfers WHERE state = 'open'")
      .one().next;
  }

  /** Units that left this object in moves not yet acknowledged by the other side. */
  unitsInFlight(): number {
    return this.#sql
      .exec<{ units: number }>(
        "SELECT COALESCE(SUM(units), 0) AS units FROM transfers WHERE direction = 'out' AND state = 'open'",
      )
      .one().units;
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

  /**
   * Ends a hold: a commit also takes its units off the shelf (and notes the stock take they were sold
   * under); a release or expiry only frees them.
   */
  settle(hold: Reservation, to: "committed" | "released" | "expired", now: number) {
    this.#sql.exec(
      `UPDATE reservations SET state = ?, updated_at = ?,
         sold_in = CASE WHEN ? = 'committed' THEN (SELECT stock_take FROM stock WHERE id = 1) ELSE sold_in END
       WHERE order_id = ?`,
      to,
      now,
      to,
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

  /**
   * Gives a committed hold's units back to the shelf (its order did not end paid), while the stock take
   * they were sold under stands: once a stock take has counted the shelf since (or if the sale predates
   * this record), the count stands, and only the hold is released. Either way `onHand + committed` is
   * unchanged, so the books still add up.
   */
  unsell(hold: Reservation, now: number): number {
    this.#sql.exec(
      "UPDATE reservations SET state = 'released', updated_at = ? WHERE order_id = ?",
      now,
      hold.orderId,
    );
    return this.#backOnShelf(hold, hold.quantity, now);
  }

  /**
   * Puts sold units of a hold back on hand (`committed` falls by as many) if they were sold under the
   * stock take that stands; units sold before it were counted by it. Answers the units put back.
   */
  #backOnShelf(hold: Reservation, quantity: number, now: number): number {
    const current = this.#sql
      .exec<{ take: string }>("SELECT stock_take AS take FROM stock WHERE id = 1")
      .toArray()[0];
    const units = hold.soldIn !== null && hold.soldIn === current?.take ? quantity : 0;
    this.#sql.exec(
      "UPDATE stock SET on_hand = on_hand + ?, committed = committed - ?, updated_at = ? WHERE id = 1",
      units,
      units,
      iso(now),
    );
    return units;
  }

  /** A return already made under this key: the units asked for, and those the shelf got back. */
  returnMade(key: string): { quantity: number; units: number } | null {
    return (
      this.#sql
        .exec<{ quantity: number; units: number }>("SELECT quantity, units FROM returns WHERE key = ?", key)
        .toArray()[0] ?? null
    );
  }

  /** Units of a committed reservation already put back by refunds. */
  returnedOf(orderId: string): number {
    return (
      this.#sql
        .exec<{ returned: number }>("SELECT returned FROM reservations WHERE order_id = ?", orderId)
        .toArray()[0]?.returned ?? 0
    );
  }

  /**
   * Puts `quantity` refunded units of a sold reservation back on the shelf, under `key`. Units sold
   * under the stock take that stands go back (`committed` falls by as many); units sold before it were
   * on the shelf when it was counted, so the count has them already. Answers the units put back.
   */
  returnUnits(key: string, hold: Reservation, quantity: number, now: number): number {
    this.#sql.exec(
      "UPDATE reservations SET returned = returned + ?, updated_at = ? WHERE order_id = ?",
      quantity,
      now,
      hold.orderId,
    );
    const units = this.#backOnShelf(hold, quantity, now);
    this.#sql.exec(
      "INSERT INTO returns (key, order_id, quantity, units, at) VALUES (?, ?, ?, ?, ?)",
      key,
      hold.orderId,
      quantity,
      units,
      now,
    );
    return units;
  }

  /**
   * Marks an order closed here: whatever its hold came to (released, expired, or none at all), no hold
   * is taken for it again, so a call of its that arrives late cannot hold (and pin) units for it.
   */
  close(orderId: string, now: number) {
    this.#sql.exec(
      `INSERT INTO reservations (order_id, quantity, state, expires_at, updated_at, closed)
       VALUES (?, 0, 'released', 0, ?, 1)
       ON CONFLICT (order_id) DO UPDATE SET closed = 1`,
      orderId,
      now,
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

  /**
   * The orders sold here (commits) and given back (returns) after ledger entry `after`, oldest first,
   * at most `limit`; `seq` is where a reader goes on from (the ledger's end once it has read all).
   */
  salesAfter(after: number, limit: number): Sales {
    const rows = this.#sql
      .exec<{ seq: number; kind: "commit" | "return"; quantity: number; order_id: string }>(
        `SELECT seq, kind, quantity, order_id FROM ledger
         WHERE seq > ? AND kind IN ('commit', 'return') AND order_id IS NOT NULL ORDER BY seq LIMIT ?`,
        after,
        limit,
      )
      .toArray();
    const seq = rows.length === limit ? (rows.at(-1)?.seq ?? after) : this.lastSeq();
    return {
      seq: Math.max(seq, after),
      sold: rows.flatMap((row) =>
        row.kind === "commit" ? [{ orderId: row.order_id, units: row.quantity }] : [],
      ),
      returned: rows.flatMap((row) => (row.kind === "return" ? [row.order_id] : [])),
    };
  }

  /** The ledger's last entry (0 while it is empty). */
  lastSeq(): number {
    return this.#sql.exec<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM ledger").one().seq ?? 0;
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

  /**
   * Drops settled reservations and finished moves older than `before` (a sale: older than `soldBefore`,
   * since a refund returns only what was sold here and is still known); the ledger keeps their
   * history. A move received here is remembered ten times longer: its sender redelivers until it
   * hears back, and a redelivery after the record is gone would count the units twice.
   */
  prune(before: number, soldBefore: number, now: number) {
    this.#sql.exec(
      "DELETE FROM reservations WHERE (state NOT IN ('held', 'committed') AND updated_at < ?) OR (state = 'committed' AND updated_at < ?)",
      before,
      soldBefore,
    );
    this.#sql.exec(
      "DELETE FROM transfers WHERE state != 'open' AND updated_at < ? AND (direction = 'out' OR updated_at < ?)",
      before,
      now - (now - before) * 10,
    );
    this.#sql.exec("DELETE FROM adjustments WHERE at < ?", before);
  }
}

type TransferRow = {
  id: string;
  direction: "out" | "in";
  peer: string;
  units: number;
  stock_take: string;
  state: TransferState;
  attempts: number;
  due_at: number | null;
};

function transferOf(row: TransferRow): Transfer {
  return {
    id: row.id,
    direction: row.direction,
    peer: row.peer,
    units: row.units,
    stockTake: row.stock_take,
    state: row.state,
    attempts: row.attempts,
    dueAt: row.due_at,
  };
}
