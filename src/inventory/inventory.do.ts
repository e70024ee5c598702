import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import {
  BucketCount,
  Delta,
  type HoldArgs,
  InventoryArgs,
  OrderId,
  Quantity,
  Reason,
  SkuArg,
  TimestampMs,
} from "./inventory.args";

export type Hold = { orderId: string; quantity: number; expiresAt: string };

export type InventorySnapshot = {
  sku: string;
  onHand: number;
  reserved: number;
  available: number;
  committed: number;
  holds: Hold[];
  updatedAt: string;
};

/** A call whose arguments fail validation changes nothing and says why. */
export type InvalidArgument = { ok: false; error: "invalid_argument"; detail: string };

/** Outcomes cross the RPC boundary as values: a thrown error loses everything but its message. */
export type StockChange =
  | { ok: true; snapshot: InventorySnapshot }
  | InvalidArgument
  | { ok: false; error: "stock_below_reserved"; onHand: number; reserved: number }
  | { ok: false; error: "not_stocked" };

/**
 * What a reservation got. `quantity` may be less than asked only when `partial` was requested; a
 * repeated reserve for the same order answers with what the first one got, whatever it asks now.
 */
export type ReserveResult =
  | { ok: true; quantity: number; expiresAt: string; available: number; replayed: boolean }
  | { ok: false; error: "insufficient_stock"; available: number }
  | { ok: false; error: "already_committed" | "not_stocked"; available: number }
  | InvalidArgument;

export type SettleResult =
  | { ok: true; quantity: number; replayed: boolean }
  | { ok: false; error: "no_hold" | "released" | "expired" | "committed" }
  | InvalidArgument;

type ReservationState = "held" | "committed" | "released" | "expired" | "refused";
type Reservation = { order_id: string; quantity: number; state: ReservationState; expires_at: number };

function invalid(error: z.ZodError): InvalidArgument {
  return { ok: false, error: "invalid_argument", detail: z.prettifyError(error) };
}

/** Settled reservations are kept this long for idempotent replays, then pruned; the ledger stays. */
const SETTLED_RETENTION_MS = 7 * 24 * 3600 * 1000;

/**
 * One object per SKU (or per bucket of a hot SKU) serializes every change to its stock. Each method
 * reads and writes synchronously, with no await in between, so concurrent calls cannot interleave
 * inside it; multi-statement writes run in one `transactionSync`.
 */
export class SkuInventory extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  /** The alarm time this object last asked for, so a reserve re-arms only when it must. */
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#migrate();
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  #migrate() {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS stock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        sku TEXT NOT NULL,
        on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
        committed INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS reservations (
        order_id TEXT PRIMARY KEY,
        quantity INTEGER NOT NULL CHECK (quantity >= 0),
        state TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS reservations_state_expiry ON reservations (state, expires_at);
      CREATE TABLE IF NOT EXISTS layout (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        buckets INTEGER NOT NULL CHECK (buckets >= 1),
        span INTEGER NOT NULL CHECK (span >= buckets)
      );
      CREATE TABLE IF NOT EXISTS ledger (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        on_hand_after INTEGER NOT NULL,
        reserved_after INTEGER NOT NULL,
        order_id TEXT,
        reason TEXT
      );
    `);
  }

  #stock() {
    const row = this.#sql
      .exec<{ sku: string; on_hand: number; committed: number; updated_at: string }>(
        "SELECT sku, on_hand, committed, updated_at FROM stock WHERE id = 1",
      )
      .toArray()[0];
    return row
      ? { sku: row.sku, onHand: row.on_hand, committed: row.committed, updatedAt: row.updated_at }
      : null;
  }

  #reserved(): number {
    return this.#sql
      .exec<{ total: number }>(
        "SELECT COALESCE(SUM(quantity), 0) AS total FROM reservations WHERE state = 'held'",
      )
      .one().total;
  }

  #reservation(orderId: string): Reservation | null {
    return (
      this.#sql
        .exec<Reservation>(
          "SELECT order_id, quantity, state, expires_at FROM reservations WHERE order_id = ?",
          orderId,
        )
        .toArray()[0] ?? null
    );
  }

  #record(
    kind: string,
    quantity: number,
    now: number,
    orderId: string | null = null,
    reason: string | null = null,
  ) {
    const stock = this.#stock();
    this.#sql.exec(
      `INSERT INTO ledger (at, kind, quantity, on_hand_after, reserved_after, order_id, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      new Date(now).toISOString(),
      kind,
      quantity,
      stock?.onHand ?? 0,
      this.#reserved(),
      orderId,
      reason,
    );
  }

  #touch(now: number) {
    this.#sql.exec("UPDATE stock SET updated_at = ? WHERE id = 1", new Date(now).toISOString());
  }

  /** Holds past their expiry return to stock even before the alarm fires (alarms can run late). */
  #expireDue(now: number): number {
    const due = this.#sql
      .exec<{ order_id: string; quantity: number }>(
        "SELECT order_id, quantity FROM reservations WHERE state = 'held' AND expires_at <= ?",
        now,
      )
      .toArray();
    if (due.length === 0) return 0;
    this.ctx.storage.transactionSync(() => {
      for (const hold of due) {
        this.#sql.exec(
          "UPDATE reservations SET state = 'expired', updated_at = ? WHERE order_id = ?",
          now,
          hold.order_id,
        );
        this.#record("expire", hold.quantity, now, hold.order_id);
      }
      this.#touch(now);
    });
    return due.length;
  }

  /** Asks for an alarm at `at` when none is set or the one set is later. Called synchronously. */
  #armFor(at: number) {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  #nextExpiry(): number | null {
    return this.#sql
      .exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM reservations WHERE state = 'held'")
      .one().next;
  }

  #available(): number {
    const stock = this.#stock();
    return stock ? stock.onHand - this.#reserved() : 0;
  }

  /** Whether the object answers at all (for /health); touches no storage. */
  ping(): true {
    return true;
  }

  /**
   * How many buckets a hot SKU is split into (`buckets`), and how many have ever held stock (`span`,
   * which totals must read while a shrunk layout drains). Kept by the SKU's first bucket only.
   */
  layout(): { buckets: number; span: number } {
    const row = this.#sql
      .exec<{ buckets: number; span: number }>("SELECT buckets, span FROM layout WHERE id = 1")
      .toArray()[0];
    return row ?? { buckets: 1, span: 1 };
  }

  setLayout(buckets: number): { buckets: number; span: number } {
    // Only the service calls this, with a count its own schema already bounded.
    BucketCount.parse(buckets);
    const span = Math.max(buckets, this.layout().span);
    this.#sql.exec(
      `INSERT INTO layout (id, buckets, span) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET buckets = excluded.buckets, span = excluded.span`,
      buckets,
      span,
    );
    return { buckets, span };
  }

  /** Units free to reserve right now; cheaper than a snapshot. */
  availability(): number {
    this.#expireDue(Date.now());
    return this.#available();
  }

  snapshot(): InventorySnapshot | null {
    const now = Date.now();
    this.#expireDue(now);
    const stock = this.#stock();
    if (!stock) return null;
    const holds = this.#sql
      .exec<{ order_id: string; quantity: number; expires_at: number }>(
        "SELECT order_id, quantity, expires_at FROM reservations WHERE state = 'held' ORDER BY expires_at, order_id",
      )
      .toArray()
      .map((hold) => ({
        orderId: hold.order_id,
        quantity: hold.quantity,
        expiresAt: new Date(hold.expires_at).toISOString(),
      }));
    const reserved = holds.reduce((sum, hold) => sum + hold.quantity, 0);
    return {
      sku: stock.sku,
      onHand: stock.onHand,
      reserved,
      available: stock.onHand - reserved,
      committed: stock.committed,
      holds,
      updatedAt: stock.updatedAt,
    };
  }

  /**
   * Holds `quantity` units for an order until `expiresAtMs`. A second call for the same order answers
   * what the first got. With `partial`, takes what there is (possibly nothing) and, when nothing,
   * remembers the refusal so that a retried walk over a hot SKU's buckets cannot hold twice.
   */
  reserve(args: HoldArgs): ReserveResult {
    const parsed = InventoryArgs.hold.safeParse(args);
    if (!parsed.success) return invalid(parsed.error);
    const { orderId, quantity, expiresAtMs, partial } = parsed.data;
    const now = Date.now();
    this.#expireDue(now);
    if (!this.#stock()) return { ok: false, error: "not_stocked", available: 0 };

    const existing = this.#reservation(orderId);
    if (existing?.state === "held" || (existing?.state === "refused" && partial)) {
      return {
        ok: true,
        quantity: existing.quantity,
        expiresAt: new Date(existing.expires_at).toISOString(),
        available: this.#available(),
        replayed: true,
      };
    }
    if (existing?.state === "committed") {
      return { ok: false, error: "already_committed", available: this.#available() };
    }

    const available = this.#available();
    const granted = partial ? Math.min(available, quantity) : available >= quantity ? quantity : 0;
    if (granted === 0 && !partial) return { ok: false, error: "insufficient_stock", available };

    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO reservations (order_id, quantity, state, expires_at, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (order_id) DO UPDATE SET quantity = excluded.quantity, state = excluded.state,
           expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
        orderId,
        granted,
        granted > 0 ? "held" : "refused",
        expiresAtMs,
        now,
      );
      if (granted > 0) {
        this.#record("hold", granted, now, orderId);
        this.#touch(now);
      }
    });
    if (granted > 0) this.#armFor(expiresAtMs);
    return {
      ok: true,
      quantity: granted,
      expiresAt: new Date(expiresAtMs).toISOString(),
      available: available - granted,
      replayed: false,
    };
  }

  /** Turns an order's hold into a sale: on hand and the hold both drop by its quantity, once. */
  commit(orderId: string): SettleResult {
    const checked = OrderId.safeParse(orderId);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const existing = this.#reservation(orderId);
    if (!existing || existing.state === "refused") return { ok: false, error: "no_hold" };
    if (existing.state === "committed") return { ok: true, quantity: existing.quantity, replayed: true };
    if (existing.state !== "held") return { ok: false, error: existing.state };
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        "UPDATE stock SET on_hand = on_hand - ?, committed = committed + ? WHERE id = 1",
        existing.quantity,
        existing.quantity,
      );
      this.#sql.exec(
        "UPDATE reservations SET state = 'committed', updated_at = ? WHERE order_id = ?",
        now,
        orderId,
      );
      this.#record("commit", existing.quantity, now, orderId);
      this.#touch(now);
    });
    return { ok: true, quantity: existing.quantity, replayed: false };
  }

  /** Returns an order's held units to stock. Also forgets a remembered refusal, so a later retry starts clean. */
  release(orderId: string): SettleResult {
    const checked = OrderId.safeParse(orderId);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const existing = this.#reservation(orderId);
    if (!existing) return { ok: false, error: "no_hold" };
    if (existing.state === "refused") {
      this.#sql.exec("DELETE FROM reservations WHERE order_id = ?", orderId);
      return { ok: false, error: "no_hold" };
    }
    if (existing.state === "released") return { ok: true, quantity: existing.quantity, replayed: true };
    if (existing.state !== "held") return { ok: false, error: existing.state };
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        "UPDATE reservations SET state = 'released', updated_at = ? WHERE order_id = ?",
        now,
        orderId,
      );
      this.#record("release", existing.quantity, now, orderId);
      this.#touch(now);
    });
    return { ok: true, quantity: existing.quantity, replayed: false };
  }

  /** Pushes a hold's expiry out (never in) while its payment is in flight. */
  extend(orderId: string, untilMs: number): SettleResult & { expiresAt?: string } {
    const checked = z.tuple([OrderId, TimestampMs]).safeParse([orderId, untilMs]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const existing = this.#reservation(orderId);
    if (!existing || existing.state === "refused") return { ok: false, error: "no_hold" };
    if (existing.state !== "held") return { ok: false, error: existing.state };
    const expiresAt = Math.max(existing.expires_at, untilMs);
    if (expiresAt !== existing.expires_at) {
      this.#sql.exec(
        "UPDATE reservations SET expires_at = ?, updated_at = ? WHERE order_id = ?",
        expiresAt,
        now,
        orderId,
      );
    }
    return {
      ok: true,
      quantity: existing.quantity,
      replayed: expiresAt === existing.expires_at,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  /** Sets the count on hand (a stock take); `committed` restarts from zero. */
  set(sku: string, onHand: number): StockChange {
    const checked = z.tuple([SkuArg, Quantity]).safeParse([sku, onHand]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const reserved = this.#reserved();
    if (onHand < reserved) {
      return { ok: false, error: "stock_below_reserved", onHand: this.#stock()?.onHand ?? 0, reserved };
    }
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO stock (id, sku, on_hand, committed, updated_at) VALUES (1, ?, ?, 0, ?)
         ON CONFLICT (id) DO UPDATE SET on_hand = excluded.on_hand, committed = 0, updated_at = excluded.updated_at`,
        sku,
        onHand,
        new Date(now).toISOString(),
      );
      this.#record("set", onHand, now);
    });
    return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
  }

  /** Adds (or with a negative delta removes) units, refusing to go below what is reserved. */
  adjust(delta: number, reason: string): StockChange {
    const checked = z.tuple([Delta, Reason]).safeParse([delta, reason]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const stock = this.#stock();
    if (!stock) return { ok: false, error: "not_stocked" };
    const reserved = this.#reserved();
    if (stock.onHand + delta < reserved) {
      return { ok: false, error: "stock_below_reserved", onHand: stock.onHand, reserved };
    }
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec("UPDATE stock SET on_hand = on_hand + ? WHERE id = 1", delta);
      this.#record("adjust", delta, now, null, reason);
      this.#touch(now);
    });
    return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
  }

  /** The movements of this object's stock, newest first. */
  ledger(limit = 100) {
    return this.#sql
      .exec<{
        seq: number;
        at: string;
        kind: string;
        quantity: number;
        on_hand_after: number;
        reserved_after: number;
        order_id: string | null;
        reason: string | null;
      }>("SELECT * FROM ledger ORDER BY seq DESC LIMIT ?", Math.min(Math.max(1, limit), 1000))
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

  /** Expires due holds and re-arms for the next one. Running it twice changes nothing the second time. */
  override async alarm() {
    const now = Date.now();
    this.#expireDue(now);
    this.#sql.exec(
      "DELETE FROM reservations WHERE state != 'held' AND updated_at < ?",
      now - SETTLED_RETENTION_MS,
    );
    const next = this.#nextExpiry();
    this.#alarmAt = next;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}
