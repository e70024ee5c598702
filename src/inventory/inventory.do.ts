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
} from "./inventory.args";
import { type Reservation, StockStore } from "./inventory.store";

export type Hold = { orderId: string; quantity: number; expiresAt: string; pinned: boolean };

export type StockCounts = { onHand: number; reserved: number; available: number; committed: number };

export type InventorySnapshot = StockCounts & {
  sku: string;
  /** The earliest-expiring holds, at most SNAPSHOT_HOLDS of them; `holdCount` says how many there are. */
  holds: Hold[];
  holdCount: number;
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
  | { ok: false; error: "insufficient_stock" | "already_committed" | "not_stocked"; available: number }
  | InvalidArgument;

export type SettleResult =
  | { ok: true; quantity: number; replayed: boolean }
  | { ok: false; error: "no_hold" | "released" | "expired" | "committed" }
  | InvalidArgument;

const SNAPSHOT_HOLDS = 200;
/** The most orders one batched call may name: a queue batch of payments, grouped by object. */
const MAX_BATCH = 1000;
/** Settled reservations are kept this long for idempotent replays, then pruned; the ledger stays. */
const SETTLED_RETENTION_MS = 7 * 24 * 3600 * 1000;

function invalid(error: z.ZodError): InvalidArgument {
  return { ok: false, error: "invalid_argument", detail: z.prettifyError(error) };
}

/**
 * One object per SKU (or per bucket of a hot SKU) serializes every change to its stock. Each method
 * reads and writes synchronously, with no await in between, so concurrent calls cannot interleave
 * inside it; a change of several rows runs in one `transactionSync`.
 */
export class SkuInventory extends DurableObject<Env> {
  readonly #store: StockStore;
  /** The alarm time this object last asked for, so a reserve re-arms only when it must. */
  #alarmAt: number | null = null;
  /** No unpinned hold expires before this, so calls before it need not look for due holds. */
  #dueFrom = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new StockStore(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => {
      this.#store.migrate();
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  #atomically<T>(work: () => T): T {
    return this.ctx.storage.transactionSync(work);
  }

  /** Holds past their expiry return to stock even before the alarm fires (alarms can run late). */
  #expireDue(now: number) {
    if (now < this.#dueFrom) return;
    const due = this.#store.dueHolds(now);
    if (due.length > 0) {
      this.#atomically(() => {
        for (const { orderId } of due) {
          const hold = this.#store.reservation(orderId);
          if (hold?.state !== "held") continue;
          this.#store.settle(hold, "expired", now);
          this.#store.record("expire", hold.quantity, now, orderId);
        }
      });
    }
    this.#dueFrom = this.#store.nextExpiry() ?? Number.POSITIVE_INFINITY;
  }

  /** Asks for an alarm at `at` when none is set or the one set is later. Called synchronously. */
  #armFor(at: number) {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  #counts(): StockCounts | null {
    const stock = this.#store.stock();
    if (!stock) return null;
    const { onHand, reserved, committed } = stock;
    return { onHand, reserved, available: onHand - reserved, committed };
  }

  /** Whether the object answers at all (for /health); touches no storage. */
  ping(): true {
    return true;
  }

  /** The four figures, without the holds: what public reads need. */
  counts(): StockCounts | null {
    this.#expireDue(Date.now());
    return this.#counts();
  }

  /** The counts with the SKU's layout, in one call: a public read of an unsplit SKU needs nothing else. */
  countsAndLayout(): { counts: StockCounts | null; layout: { buckets: number; span: number } } {
    return { counts: this.counts(), layout: this.#store.layout() };
  }

  snapshot(): InventorySnapshot | null {
    this.#expireDue(Date.now());
    const stock = this.#store.stock();
    const counts = this.#counts();
    if (!stock || !counts) return null;
    const holds = this.#store
      .holds(SNAPSHOT_HOLDS)
      .map((hold) => ({ ...hold, expiresAt: new Date(hold.expiresAt).toISOString() }));
    return {
      sku: stock.sku,
      ...counts,
      holds,
      holdCount: this.#store.holdCount(),
      updatedAt: stock.updatedAt,
    };
  }

  /**
   * How many buckets a hot SKU is split into (`buckets`), and how many have ever held stock (`span`,
   * which totals must read while a shrunk layout drains). Kept by the SKU's first bucket only.
   */
  layout(): { buckets: number; span: number } {
    return this.#store.layout();
  }

  setLayout(buckets: number): { buckets: number; span: number } {
    // Only the service calls this, with a count its own schema already bounded.
    BucketCount.parse(buckets);
    const span = Math.max(buckets, this.#store.layout().span);
    this.#store.setLayout(buckets, span);
    return { buckets, span };
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
    const counts = this.#counts();
    if (!counts) return { ok: false, error: "not_stocked", available: 0 };

    const existing = this.#store.reservation(orderId);
    if (existing?.state === "held" || (existing?.state === "refused" && partial)) {
      return { ...granted(existing), available: counts.available, replayed: true };
    }
    if (existing?.state === "committed")
      return { ok: false, error: "already_committed", available: counts.available };

    const quantityHeld = partial
      ? Math.min(counts.available, quantity)
      : counts.available >= quantity
        ? quantity
        : 0;
    if (quantityHeld === 0 && !partial)
      return { ok: false, error: "insufficient_stock", available: counts.available };

    this.#atomically(() => {
      this.#store.hold(orderId, quantityHeld, expiresAtMs, now);
      if (quantityHeld > 0) this.#store.record("hold", quantityHeld, now, orderId);
    });
    if (quantityHeld > 0) {
      this.#dueFrom = Math.min(this.#dueFrom, expiresAtMs);
      this.#armFor(expiresAtMs);
    }
    return {
      ok: true,
      quantity: quantityHeld,
      expiresAt: new Date(expiresAtMs).toISOString(),
      available: counts.available - quantityHeld,
      replayed: false,
    };
  }

  /** Turns an order's hold into a sale: on hand and reserved both drop by its quantity, once. */
  commit(orderId: string): SettleResult {
    return this.#settle(orderId, "committed");
  }

  /** Returns an order's held units to stock. Also forgets a remembered refusal, so a later retry starts clean. */
  release(orderId: string): SettleResult {
    return this.#settle(orderId, "released");
  }

  /** `commit` or `release` for several orders in one call (and one write), each answered as alone. */
  settleMany(orderIds: string[], to: "committed" | "released"): Record<string, SettleResult> {
    const checked = z.array(OrderId).max(MAX_BATCH).safeParse(orderIds);
    if (!checked.success) return Object.fromEntries(orderIds.map((id) => [id, invalid(checked.error)]));
    return Object.fromEntries(checked.data.map((id) => [id, this.#settle(id, to)]));
  }

  #settle(orderId: string, to: "committed" | "released"): SettleResult {
    const checked = OrderId.safeParse(orderId);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const existing = this.#store.reservation(orderId);
    if (!existing) return { ok: false, error: "no_hold" };
    if (existing.state === "refused") {
      if (to === "released") this.#store.forget(orderId);
      return { ok: false, error: "no_hold" };
    }
    if (existing.state === to) return { ok: true, quantity: existing.quantity, replayed: true };
    if (existing.state !== "held") return { ok: false, error: existing.state };
    this.#atomically(() => {
      this.#store.settle(existing, to, now);
      this.#store.record(to === "committed" ? "commit" : "release", existing.quantity, now, orderId);
    });
    return { ok: true, quantity: existing.quantity, replayed: false };
  }

  /**
   * Keeps these orders' holds until their orders are decided, whatever the time: called before a
   * charge may be in flight, so a late or unknown gateway answer never finds its units sold elsewhere.
   * A hold that already lapsed is not brought back; its order must not be charged.
   */
  pin(orderIds: string[]): Record<string, SettleResult> {
    const checked = z.array(OrderId).max(MAX_BATCH).safeParse(orderIds);
    if (!checked.success) return Object.fromEntries(orderIds.map((id) => [id, invalid(checked.error)]));
    const now = Date.now();
    this.#expireDue(now);
    const results: Record<string, SettleResult> = {};
    for (const orderId of checked.data) {
      const existing = this.#store.reservation(orderId);
      if (!existing || existing.state === "refused") results[orderId] = { ok: false, error: "no_hold" };
      else if (existing.state !== "held") results[orderId] = { ok: false, error: existing.state };
      else {
        if (!existing.pinned) this.#store.pin(orderId, now);
        results[orderId] = { ok: true, quantity: existing.quantity, replayed: existing.pinned };
      }
    }
    return results;
  }

  /** Sets the count on hand (a stock take); `committed` restarts from zero. */
  set(sku: string, onHand: number): StockChange {
    const checked = z.tuple([SkuArg, Quantity]).safeParse([sku, onHand]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const stock = this.#store.stock();
    if (stock && onHand < stock.reserved) {
      return { ok: false, error: "stock_below_reserved", onHand: stock.onHand, reserved: stock.reserved };
    }
    this.#atomically(() => {
      this.#store.setOnHand(sku, onHand, now);
      this.#store.record("set", onHand, now);
    });
    return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
  }

  /** Adds (or with a negative delta removes) units, refusing to go below what is reserved. */
  adjust(delta: number, reason: string): StockChange {
    const checked = z.tuple([Delta, Reason]).safeParse([delta, reason]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const stock = this.#store.stock();
    if (!stock) return { ok: false, error: "not_stocked" };
    if (stock.onHand + delta < stock.reserved) {
      return { ok: false, error: "stock_below_reserved", onHand: stock.onHand, reserved: stock.reserved };
    }
    this.#atomically(() => {
      this.#store.addOnHand(delta, now);
      this.#store.record("adjust", delta, now, null, reason);
    });
    return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
  }

  /** The movements of this object's stock, newest first. */
  ledger(limit = 100) {
    return this.#store.ledger(Math.min(Math.max(1, Math.trunc(limit) || 1), 1000));
  }

  /** Expires due holds and re-arms for the next one. Running it twice changes nothing the second time. */
  override async alarm() {
    const now = Date.now();
    this.#dueFrom = 0;
    this.#expireDue(now);
    this.#store.prune(now - SETTLED_RETENTION_MS);
    const next = this.#store.nextExpiry();
    this.#alarmAt = next;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }
}

function granted(reservation: Reservation) {
  return {
    ok: true as const,
    quantity: reservation.quantity,
    expiresAt: new Date(reservation.expiresAt).toISOString(),
  };
}
