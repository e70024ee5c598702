import { DurableObject } from "cloudflare:workers";
import { z } from "zod";

export type InventorySnapshot = {
  sku: string;
  onHand: number;
  reserved: number;
  available: number;
  committed: number;
  holds: { orderId: string; quantity: number; expiresAt: string }[];
  updatedAt: string;
};

/** Outcomes cross the RPC boundary as values: thrown errors lose everything but their message. */
export type StockChange =
  | { ok: true; snapshot: InventorySnapshot }
  | { ok: false; error: "stock_below_reserved"; onHand: number; reserved: number }
  | { ok: false; error: "not_stocked" };

const Quantity = z.number().int().min(0).max(1_000_000_000);
const Delta = z.number().int().min(-1_000_000_000).max(1_000_000_000);
const SkuArg = z.string().min(1).max(64);
const Reason = z.string().min(1).max(500);

/**
 * One object per SKU serializes every change to that SKU's stock. Each method does its read and
 * write with no await in between, so concurrent calls cannot interleave inside it.
 */
export class SkuInventory extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#migrate();
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
      CREATE TABLE IF NOT EXISTS holds (
        order_id TEXT PRIMARY KEY,
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ledger (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        on_hand_after INTEGER NOT NULL,
        order_id TEXT,
        reason TEXT
      );
    `);
  }

  #stock(): { sku: string; onHand: number; committed: number; updatedAt: string } | null {
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
    return this.#sql.exec<{ total: number }>("SELECT COALESCE(SUM(quantity), 0) AS total FROM holds").one()
      .total;
  }

  #record(kind: string, quantity: number, onHandAfter: number, at: string, reason: string | null = null) {
    this.#sql.exec(
      "INSERT INTO ledger (at, kind, quantity, on_hand_after, order_id, reason) VALUES (?, ?, ?, ?, NULL, ?)",
      at,
      kind,
      quantity,
      onHandAfter,
      reason,
    );
  }

  /** Whether the object answers at all (for /health); touches no storage. */
  ping(): true {
    return true;
  }

  snapshot(): InventorySnapshot | null {
    const stock = this.#stock();
    if (!stock) return null;
    const reserved = this.#reserved();
    const holds = this.#sql
      .exec<{ order_id: string; quantity: number; expires_at: number }>(
        "SELECT order_id, quantity, expires_at FROM holds ORDER BY expires_at",
      )
      .toArray()
      .map((hold) => ({
        orderId: hold.order_id,
        quantity: hold.quantity,
        expiresAt: new Date(hold.expires_at).toISOString(),
      }));
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

  /** Sets the count on hand (a stock take); `committed` restarts from zero. */
  set(sku: string, onHand: number): StockChange {
    SkuArg.parse(sku);
    Quantity.parse(onHand);
    const reserved = this.#reserved();
    if (onHand < reserved) {
      return { ok: false, error: "stock_below_reserved", onHand: this.#stock()?.onHand ?? 0, reserved };
    }
    const now = new Date().toISOString();
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO stock (id, sku, on_hand, committed, updated_at) VALUES (1, ?, ?, 0, ?)
         ON CONFLICT (id) DO UPDATE SET on_hand = excluded.on_hand, committed = 0, updated_at = excluded.updated_at`,
        sku,
        onHand,
        now,
      );
      this.#record("set", onHand, onHand, now);
    });
    return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
  }

  /** Adds (or with a negative delta removes) units, refusing to go below what is reserved. */
  adjust(delta: number, reason: string): StockChange {
    Delta.parse(delta);
    Reason.parse(reason);
    const stock = this.#stock();
    if (!stock) return { ok: false, error: "not_stocked" };
    const reserved = this.#reserved();
    const onHand = stock.onHand + delta;
    if (onHand < reserved) {
      return { ok: false, error: "stock_below_reserved", onHand: stock.onHand, reserved };
    }
    const now = new Date().toISOString();
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec("UPDATE stock SET on_hand = ?, updated_at = ? WHERE id = 1", onHand, now);
      this.#record("adjust", delta, onHand, now, reason);
    });
    return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
  }
}
