import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { ulid } from "../shared/ids";
import {
  AdjustmentKey,
  BucketCount,
  BucketName,
  Delta,
  evenShare,
  type HoldArgs,
  InventoryArgs,
  type MoveArgs,
  type MoveInArgs,
  OrderId,
  Quantity,
  Reason,
  ShareArgs,
  StockTakeId,
} from "./inventory.args";
import { type Books, type Reservation, type Sales, StockStore, type Transfer } from "./inventory.store";

type Hold = { orderId: string; quantity: number; expiresAt: string; pinned: boolean };

export type StockCounts = { onHand: number; reserved: number; available: number; committed: number };

export type InventorySnapshot = StockCounts & {
  sku: string;
  /** The earliest-expiring holds, at most SNAPSHOT_HOLDS of them; `holdCount` says how many there are. */
  holds: Hold[];
  holdCount: number;
  updatedAt: string;
  /** The object's books since its last stock take, and the units of its moves not yet acknowledged. */
  books: Books & { inFlight: number };
};

/** A call whose arguments fail validation changes nothing and says why. */
export type InvalidArgument = { ok: false; error: "invalid_argument"; detail: string };

/** Outcomes cross the RPC boundary as values: a thrown error loses everything but its message. */
export type StockChange =
  | { ok: true; snapshot: InventorySnapshot }
  | InvalidArgument
  | { ok: false; error: "stock_below_reserved"; onHand: number; reserved: number }
  | { ok: false; error: "not_stocked" }
  | { ok: false; error: "key_reused" };

/**
 * What a reservation got. `quantity` may be less than asked only when `partial` was requested; a
 * repeated reserve for the same order answers with what the first one got, whatever it asks now.
 */
export type ReserveResult =
  | { ok: true; quantity: number; expiresAt: string; available: number; replayed: boolean }
  | {
      ok: false;
      error: "insufficient_stock" | "already_committed" | "not_stocked" | "closed";
      available: number;
    }
  /**
   * A bucket of a split cap that a change of the cap is passing through (frozen between its rounds,
   * or not reached yet by the change the checkout carries): nothing is held and nothing remembered.
   * It is no refusal: the checkout is answered 503 to retry, never "used up".
   */
  | { ok: false; error: "not_ready"; available: 0 }
  | InvalidArgument;

/** One order's hold in a batch: `within` holds against a customer's allowance (see reserveWithin). */
export type BatchHold = {
  args: HoldArgs;
  within?: { name: string; allowance: number; version?: number };
  /** Holds on a bucket of a discount code's split cap instead (see reserveShare). */
  share?: ShareArgs;
};

/** What a bucket of a code's split cap answers a change of its share: the uses held and used there. */
export type ShareResult =
  | { ok: true; taken: number }
  | { ok: false; error: "superseded" | "not_frozen" }
  | InvalidArgument;

/** A batch's answer for one order: as alone, or `unavailable` when its hold failed (nothing held). */
export type BatchReserveResult = ReserveResult | { ok: false; error: "unavailable"; detail: string };

/** What a move out of this object took: `units` may be less than asked, never more than was free. */
export type MoveResult = { ok: true; units: number; delivered: boolean; replayed: boolean } | InvalidArgument;

/** How the receiving side took a move: `superseded` means a stock take here came after it was sent. */
export type MoveInResult =
  | { ok: true; state: "received" | "superseded"; replayed: boolean }
  | InvalidArgument;

export type SettleResult =
  | { ok: true; quantity: number; replayed: boolean }
  | { ok: false; error: "no_hold" | "released" | "expired" | "committed" }
  | InvalidArgument;

const SNAPSHOT_HOLDS = 200;
/** The most ledger entries of sales one read answers; a reader goes on from where it stopped. */
const SALES_PER_READ = 1000;
/** The most orders one batched call may name: a queue batch of payments, grouped by object. */
const MAX_BATCH = 1000;
/** Settled reservations are kept this long for idempotent replays, then pruned; the ledger stays. */
const SETTLED_RETENTION_MS = 7 * 24 * 3600 * 1000;
/**
 * A sale is kept longer: a refund may put its units (or a discount code's use) back for as long as the
 * gateway refunds a charge (Stripe: 180 days), and only a sale kept here can be returned.
 */
const SOLD_RETENTION_MS = 190 * 24 * 3600 * 1000;
/** An undelivered move is tried again after this, doubling up to a minute. */
const MOVE_RETRY_MS = 1000;
const MOVE_RETRY_MAX_MS = 60_000;
/** The most moves one delivery round sends. */
const MOVE_BATCH = 50;

function invalid(error: z.ZodError): InvalidArgument {
  return { ok: false, error: "invalid_argument", detail: z.prettifyError(error) };
}

/**
 * One object per SKU (or per bucket of a hot SKU) serializes every change to its stock. Each method
 * reads and writes synchronously, with no await in between, so concurrent calls cannot interleave
 * inside it; a change of several rows runs in one `transactionSync`.
 */
const ReturnShare = z
  .object({ key: z.string().min(1).max(300), orderId: OrderId, quantity: Quantity })
  .strict();

export type RestockResult =
  | { ok: true; units: number }
  | { ok: false; error: "invalid" | "key_reused" | "not_sold" | "more_than_sold" };

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

  /** A move sent inside the current transaction, to deliver (by the alarm, at once) after it commits. */
  #moveSent = false;

  #atomically<T>(work: () => T): T {
    const result = this.ctx.storage.transactionSync(work);
    if (this.#moveSent) {
      this.#moveSent = false;
      this.#armFor(Date.now());
    }
    return result;
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
        this.#drain(now);
      });
    }
    this.#dueFrom = this.#store.nextExpiry() ?? Number.POSITIVE_INFINITY;
  }

  /**
   * The rule of a retired bucket (one beyond a shrunk layout, which checkout no longer walks): it
   * keeps no free unit. Whatever comes free here moves on to its drain bucket, in the same write that
   * freed it. Called inside a transaction.
   */
  #drain(now: number, retry?: { dueAt: number; attempts: number }) {
    const stock = this.#store.stock();
    const drainTo = stock?.books.drainTo;
    if (!stock || !drainTo) return;
    const free = stock.onHand - stock.reserved;
    if (free <= 0) return;
    const dueAt = retry?.dueAt ?? now;
    this.#store.sendOut(ulid(now), drainTo, free, now, dueAt, retry?.attempts ?? 0);
    this.#store.record("move_out", free, now, null, `drain to ${drainTo}`);
    if (dueAt <= now) this.#moveSent = true;
    else this.#armFor(dueAt);
  }

  /**
   * Delivers this object's open moves that are due (all of them with `now = Infinity`), each at most
   * once on the other side, by its id. A move the other side refused as superseded comes back here,
   * unless a stock take here superseded it too. Answers how many are still open.
   */
  async #deliver(now: number, only?: string): Promise<number> {
    const due = only
      ? [this.#store.transfer(only)].filter((t): t is Transfer => t?.state === "open")
      : this.#store.dueTransfers(now, MOVE_BATCH);
    const self = this.#store.stock()?.sku ?? "";
    await Promise.all(
      due.map(async (move) => {
        let answer: MoveInResult | null = null;
        try {
          answer = await this.env.INVENTORY.getByName(move.peer).moveIn({
            transferId: move.id,
            from: self,
            to: move.peer,
            units: move.units,
            stockTake: move.stockTake,
          });
        } catch {
          answer = null;
        }
        const at = Date.now();
        // Re-read: a stock take may have superseded the move while it was on its way.
        if (this.#store.transfer(move.id)?.state !== "open") return;
        if (!answer?.ok) {
          const delay = Math.min(MOVE_RETRY_MS * 2 ** move.attempts, MOVE_RETRY_MAX_MS);
          this.#store.deliveryFailed(move.id, at + delay, at);
          this.#armFor(at + delay);
          return;
        }
        this.#atomically(() => {
          if (answer.state === "received") this.#store.delivered(move.id, at);
          else {
            this.#store.takeBack(move.id, move.units, at);
            this.#store.record("move_back", move.units, at, null, `refused by ${move.peer}`);
            // A retired bucket keeps no free unit, not even one sent back: it tries again later,
            // backing off (the receiver was counted by a newer stock take this bucket has not seen).
            const attempts = move.attempts + 1;
            const delay = Math.min(MOVE_RETRY_MS * 2 ** attempts, MOVE_RETRY_MAX_MS);
            this.#drain(at, { dueAt: at + delay, attempts });
          }
        });
      }),
    );
    return this.#store.dueTransfers(Number.POSITIVE_INFINITY, 1).length;
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

  /**
   * The counts and the layout, with the orders sold here (and given back) after ledger entry `after`,
   * for a reader that counts buyers across stock takes; `after` null: no sales, only where the ledger
   * stands now, to read on from.
   */
  countsAndSales(after: number | null): {
    counts: StockCounts | null;
    layout: { buckets: number; span: number };
    sales: Sales;
  } {
    const from = z.number().int().min(0).nullable().parse(after);
    const sales =
      from === null
        ? { seq: this.#store.lastSeq(), sold: [], returned: [] }
        : this.#store.salesAfter(from, SALES_PER_READ);
    return { ...this.countsAndLayout(), sales };
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
      books: { ...stock.books, inFlight: this.#store.unitsInFlight() },
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
    return this.#reserve(args, true);
  }

  /** `reserve`; an object that `gives` nothing holds nothing new (and remembers a partial refusal). */
  #reserve(args: HoldArgs, gives: boolean): ReserveResult {
    const parsed = InventoryArgs.hold.safeParse(args);
    if (!parsed.success) return invalid(parsed.error);
    const { orderId, quantity, expiresAtMs, partial } = parsed.data;
    const now = Date.now();
    this.#expireDue(now);
    const counts = this.#counts();
    if (!counts) return { ok: false, error: "not_stocked", available: 0 };

    const existing = this.#store.reservation(orderId);
    // Its order was closed: a call of its that arrives late (a consumer's, a stalled checkout's) must
    // not hold units no decision will ever give back.
    if (existing?.closed) return { ok: false, error: "closed", available: counts.available };
    if (existing?.state === "held" || (existing?.state === "refused" && partial)) {
      return { ...granted(existing), available: counts.available, replayed: true };
    }
    if (existing?.state === "committed")
      return { ok: false, error: "already_committed", available: counts.available };

    const free = gives ? counts.available : 0;
    const quantityHeld = partial ? Math.min(free, quantity) : free >= quantity ? quantity : 0;
    if (quantityHeld === 0 && !partial) return { ok: false, error: "insufficient_stock", available: free };

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
      available: free - quantityHeld,
      replayed: false,
    };
  }

  /**
   * A use of a discount code whose total cap is split over buckets (see inventory/code-uses.ts): this
   * object is one bucket, and its share of the cap is what it may have held and used. A checkout never
   * moves a share; it may only stock a bucket no change of the cap has reached, at the even split of
   * the cap the code was made with (`fresh`). A checkout carrying a newer cap than this bucket has
   * seen gets nothing here (the change has not reached it yet: its old share may be too large), and
   * walks on to the next bucket.
   */
  reserveShare(args: HoldArgs, share: ShareArgs): ReserveResult {
    const checked = ShareArgs.safeParse(share);
    if (!checked.success) return invalid(checked.error);
    const hold = InventoryArgs.hold.safeParse(args);
    if (!hold.success) return invalid(hold.error);
    const { name, bucket, of, cap, version, fresh } = checked.data;
    const now = Date.now();
    this.#expireDue(now);
    if (!this.#store.stock()) {
      // Stocked even when it gives nothing, so a refusal is remembered like any bucket's (a retried
      // walk cannot hold twice); a change of the cap reaching it then sets its share.
      const stocked = fresh ? evenShare(cap, bucket, of) : 0;
      this.#atomically(() => {
        this.#store.setOnHand(name, stocked, ulid(now), now);
        this.#store.record("set", stocked, now, null, "a share of the code's cap");
        this.#store.setAllowanceShare(stocked);
        this.#store.setSplitState(1);
        if (fresh) this.#store.setAllowanceVersion(version);
      });
    } else if (this.#store.splitState() === 0) this.#store.setSplitState(1);
    this.#followShare(now);
    const ready = version <= this.#store.allowanceVersion() && this.#store.splitState() !== 2;
    if (!ready) {
      // A change is passing through: what this order got here before is answered again (its hold is
      // counted by the change), and otherwise nothing is held or remembered: the checkout may come back.
      const existing = this.#store.reservation(hold.data.orderId);
      const answered =
        existing &&
        (existing.closed ||
          existing.state === "held" ||
          existing.state === "refused" ||
          existing.state === "committed");
      if (!answered) return { ok: false, error: "not_ready", available: 0 };
    }
    return this.#reserve(args, ready);
  }

  /**
   * A bucket of a split cap keeps on hand its share less the uses paid here, never less than is held:
   * so a use given back here is given again only within the share.
   */
  #followShare(now: number) {
    const stock = this.#store.stock();
    if (!stock) return;
    const target = Math.max(stock.reserved, this.#store.allowanceShare() - stock.committed);
    if (target === stock.onHand) return;
    this.#atomically(() => {
      this.#store.addOnHand(target - stock.onHand, now);
      this.#store.record(
        "adjust",
        target - stock.onHand,
        now,
        null,
        "the bucket follows its share of the cap",
      );
    });
  }

  /**
   * Sets this bucket's share of a code's split cap, for a change of the cap (see code-uses.ts), never
   * for an older change than one it followed. `opening` (the change's second round) sets it only on
   * a bucket the same change froze in its first round. Answers the uses held and used here.
   */
  setShare(name: string, share: number, version: number, opening: boolean): ShareResult {
    const checked = z
      .tuple([BucketName, z.number().int().min(0).max(1_000_000), z.number().int().min(1), z.boolean()])
      .safeParse([name, share, version, opening]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const seen = this.#store.stock() ? this.#store.allowanceVersion() : 0;
    if (seen > version) return { ok: false, error: "superseded" };
    if (opening && seen !== version) return { ok: false, error: "not_frozen" };
    this.#atomically(() => {
      if (!this.#store.stock()) {
        this.#store.setOnHand(name, 0, ulid(now), now);
        this.#store.record("set", 0, now, null, "a share of the code's cap");
      }
      this.#store.setAllowanceShare(share);
      this.#store.setAllowanceVersion(version);
      this.#store.setSplitState(opening ? 1 : 2);
      this.#followShare(now);
    });
    const stock = this.#store.stock();
    return { ok: true, taken: (stock?.reserved ?? 0) + (stock?.committed ?? 0) };
  }

  /**
   * A customer's allowance of a limited SKU or product, kept in an object of its own (named for the
   * limit and the customer) whose stock is what the customer may still buy: `allowance` less what
   * they bought. Holding, pinning, selling, giving back and expiring then work exactly as for stock,
   * under the order's id, so a cart racing another of the same customer is serialised here, and a
   * failed or cancelled order gives its allowance back with its units. A changed limit applies at
   * the customer's next checkout (never below what they hold).
   */
  reserveWithin(args: HoldArgs, name: string, allowance: number, version = 0): ReserveResult {
    const checked = z
      .tuple([BucketName, z.number().int().min(1).max(1_000_000), z.number().int().min(0)])
      .safeParse([name, allowance, version]);
    if (!checked.success) return invalid(checked.error);
    this.#refuseIfSplit();
    this.#follow(name, allowance, version, Date.now());
    return this.reserve(args);
  }

  /**
   * A bucket of a split cap is never one code's single object, though bucket 0 bears its name: a
   * worker that does not know buckets (a rollback, a gradual deploy) would set it to the whole cap
   * on top of the others' shares. Thrown, so such a checkout is answered unavailable (503), never a
   * use past the cap; a PATCH from it answers 503.
   */
  #refuseIfSplit() {
    if (this.#store.stock() && (this.#store.splitState() !== 0 || this.#store.allowanceShare() > 0)) {
      throw new Error("a bucket of a split cap takes no limit of its own (reserveWithin, setWithin)");
    }
  }

  /**
   * Sets an allowance object's limit without holding anything (the shop changed it): the same rule as
   * a cart's, so what is held or bought is never taken back.
   */
  setWithin(name: string, allowance: number, version: number): { ok: true } | { ok: false; error: string } {
    const checked = z
      .tuple([BucketName, z.number().int().min(1).max(1_000_000), z.number().int().min(1)])
      .safeParse([name, allowance, version]);
    if (!checked.success) return invalid(checked.error);
    this.#refuseIfSplit();
    this.#follow(name, allowance, version, Date.now());
    return { ok: true };
  }

  /**
   * Follows the limit a cart (or the shop) carries: the stock becomes `allowance` less what was bought
   * (never below what is held). A limit with a version (a discount code's caps, by when the code last
   * changed) is followed only when it is not older than the one followed already, so a checkout that
   * read the code before a change cannot move its cap back; a limit without one (0) always is.
   */
  #follow(name: string, allowance: number, version: number, now: number) {
    this.#expireDue(now);
    const stock = this.#store.stock();
    if (stock && version < this.#store.allowanceVersion()) return;
    const target = stock ? Math.max(stock.reserved, allowance - stock.committed) : allowance;
    if (!stock) {
      this.#atomically(() => {
        this.#store.setOnHand(name, allowance, ulid(), now);
        this.#store.record("set", allowance, now);
        if (version > 0) this.#store.setAllowanceVersion(version);
      });
    } else if (target !== stock.onHand || version > this.#store.allowanceVersion()) {
      this.#atomically(() => {
        if (target !== stock.onHand) {
          this.#store.addOnHand(target - stock.onHand, now);
          this.#store.record("adjust", target - stock.onHand, now, null, "the limit per customer changed");
        }
        if (version > 0) this.#store.setAllowanceVersion(version);
      });
    }
  }

  /**
   * The holds of several orders in one call and one write (a shard's batch of checkouts), each
   * answered as `reserve` (or, with `within`, `reserveWithin`) would answer it alone. Each hold is
   * made in a savepoint of its own: one that fails (its arguments, or a fault) is answered
   * `unavailable` and leaves nothing behind, and never fails another order's hold.
   */
  reserveMany(holds: BatchHold[]): BatchReserveResult[] {
    const checked = z.array(z.unknown()).max(MAX_BATCH).safeParse(holds);
    if (!checked.success) return [];
    return this.ctx.storage.transactionSync(() =>
      holds.map((hold): BatchReserveResult => {
        // The hold may move the expiry cursor inside its savepoint; a rollback puts it back with the rows.
        const dueFrom = this.#dueFrom;
        try {
          return this.ctx.storage.transactionSync(() =>
            hold?.share
              ? this.reserveShare(hold.args, hold.share)
              : hold?.within
                ? this.reserveWithin(
                    hold.args,
                    hold.within.name,
                    hold.within.allowance,
                    hold.within.version ?? 0,
                  )
                : this.reserve(hold.args),
          );
        } catch (error) {
          this.#dueFrom = dueFrom;
          return { ok: false, error: "unavailable", detail: String(error) };
        }
      }),
    );
  }

  /** Turns an order's hold into a sale: on hand and reserved both drop by its quantity, once. */
  commit(orderId: string): SettleResult {
    return this.#settle(orderId, "committed");
  }

  /**
   * Returns an order's held units to stock. Also forgets a remembered refusal, so a later retry starts
   * clean; `closing` (its order is closed for good) instead refuses any later hold for the order.
   */
  release(orderId: string, closing = false): SettleResult {
    return this.#settle(orderId, "released", z.boolean().parse(closing));
  }

  /**
   * `commit` or `release` for several orders in one call (and one write), each answered as alone;
   * `closing` with a release: these orders are closed for good, and no hold is taken for them again.
   */
  settleMany(
    orderIds: string[],
    to: "committed" | "released",
    closing = false,
  ): Record<string, SettleResult> {
    const checked = z.tuple([z.array(OrderId).max(MAX_BATCH), z.boolean()]).safeParse([orderIds, closing]);
    if (!checked.success) return Object.fromEntries(orderIds.map((id) => [id, invalid(checked.error)]));
    const [ids, closes] = checked.data;
    return Object.fromEntries(ids.map((id) => [id, this.#settle(id, to, closes && to === "released")]));
  }

  #settle(orderId: string, to: "committed" | "released", closing = false): SettleResult {
    const checked = OrderId.safeParse(orderId);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const result = this.#settleHold(orderId, to, now);
    if (closing) this.#atomically(() => this.#store.close(orderId, now));
    return result;
  }

  #settleHold(orderId: string, to: "committed" | "released", now: number): SettleResult {
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
      if (to === "released") this.#drain(now);
    });
    return { ok: true, quantity: existing.quantity, replayed: false };
  }

  /**
   * Gives back the units of holds committed for orders that did not end paid. Only an order shard asks,
   * for an order it closed: a commit made for it whose decision was lost (the shard stopped between
   * the two) sold its units to no one. Units a stock take has counted since stay as counted. A hold
   * still held is released as `settleMany` would; one given back already answers so again.
   */
  unsell(orderIds: string[]): Record<string, SettleResult> {
    const checked = z.array(OrderId).max(MAX_BATCH).safeParse(orderIds);
    if (!checked.success) return Object.fromEntries(orderIds.map((id) => [id, invalid(checked.error)]));
    const results: Record<string, SettleResult> = {};
    for (const orderId of checked.data) {
      const existing = this.#store.reservation(orderId);
      if (existing?.state !== "committed") {
        results[orderId] = this.#settle(orderId, "released", true);
        continue;
      }
      const now = Date.now();
      this.#atomically(() => {
        const units = this.#store.unsell(existing, now);
        this.#store.record("return", units, now, orderId, "its order did not end paid");
        this.#store.close(orderId, now);
        this.#drain(now);
      });
      results[orderId] = { ok: true, quantity: existing.quantity, replayed: false };
    }
    return results;
  }

  /**
   * Puts refunded units of paid orders back on the shelf: each share once under its key (a repeat
   * answers `done` again), never more of an order than was sold to it here. Only an order shard asks,
   * for a refund it recorded.
   */
  restock(shares: { key: string; orderId: string; quantity: number }[]): Record<string, RestockResult> {
    const batch = z.array(z.unknown()).max(MAX_BATCH).safeParse(shares);
    if (!batch.success)
      return Object.fromEntries(shares.map((share) => [share.key, { ok: false, error: "invalid" }]));
    const results: Record<string, RestockResult> = {};
    const now = Date.now();
    for (const share of shares) {
      // Each share is checked alone: one malformed share never refuses the others of its batch.
      const checked = ReturnShare.safeParse(share);
      if (!checked.success) {
        if (typeof share?.key === "string") results[share.key] = { ok: false, error: "invalid" };
        continue;
      }
      const { key, orderId, quantity } = checked.data;
      const made = this.#store.returnMade(key);
      if (made) {
        results[key] =
          made.quantity === quantity ? { ok: true, units: made.units } : { ok: false, error: "key_reused" };
        continue;
      }
      const hold = this.#store.reservation(orderId);
      if (hold?.state !== "committed") {
        results[key] = { ok: false, error: "not_sold" };
        continue;
      }
      if (this.#store.returnedOf(orderId) + quantity > hold.quantity) {
        results[key] = { ok: false, error: "more_than_sold" };
        continue;
      }
      const units = this.#atomically(() => {
        const back = this.#store.returnUnits(key, hold, quantity, now);
        this.#store.record("return", back, now, orderId, "refunded, back to stock");
        this.#drain(now);
        return back;
      });
      results[key] = { ok: true, units };
    }
    return results;
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

  /**
   * Sets the count on hand (a stock take); `committed` and the books restart from it. The buckets of
   * a split SKU share one `stockTake` id, so moves sent before it are superseded on both sides.
   */
  set(sku: string, onHand: number, stockTake: string = ulid()): StockChange {
    const checked = z.tuple([BucketName, Quantity, StockTakeId]).safeParse([sku, onHand, stockTake]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const stock = this.#store.stock();
    if (stock && onHand < stock.reserved) {
      return { ok: false, error: "stock_below_reserved", onHand: stock.onHand, reserved: stock.reserved };
    }
    this.#atomically(() => {
      this.#store.setOnHand(sku, onHand, stockTake, now);
      this.#store.record("set", onHand, now);
      this.#drain(now);
    });
    return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
  }

  /**
   * Adds (or with a negative delta removes) units, refusing to go below what is reserved. With a
   * `key`, made once: a repeat answers as the first did, and the key with another change is refused.
   */
  adjust(delta: number, reason: string, key?: string): StockChange {
    const checked = z.tuple([Delta, Reason, AdjustmentKey.optional()]).safeParse([delta, reason, key]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const stock = this.#store.stock();
    if (!stock) return { ok: false, error: "not_stocked" };
    const made = key === undefined ? null : this.#store.adjustment(key);
    if (made) {
      if (made.delta !== delta || made.reason !== reason) return { ok: false, error: "key_reused" };
      return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
    }
    if (stock.onHand + delta < stock.reserved) {
      return { ok: false, error: "stock_below_reserved", onHand: stock.onHand, reserved: stock.reserved };
    }
    this.#atomically(() => {
      this.#store.addOnHand(delta, now);
      this.#store.record("adjust", delta, now, null, reason);
      if (key !== undefined) this.#store.rememberAdjustment(key, delta, reason, now);
      this.#drain(now);
    });
    return { ok: true, snapshot: this.snapshot() as InventorySnapshot };
  }

  /** Whether an adjustment was already made here under this key (so a repeat need not prepare it). */
  madeAdjustment(key: string): boolean {
    return AdjustmentKey.safeParse(key).success && this.#store.adjustment(key) !== null;
  }

  /**
   * Moves up to `units` free units to another bucket of the SKU. Taking them off this shelf and
   * recording the move is one write; delivering it is retried by this object's alarm until the other
   * side has it, and the other side counts each move id once. So a failure at any point leaves the
   * units either here, on their way, or there: never lost, never twice.
   */
  async moveOut(args: MoveArgs): Promise<MoveResult> {
    const parsed = InventoryArgs.move.safeParse(args);
    if (!parsed.success) return invalid(parsed.error);
    const { transferId, to, units } = parsed.data;
    const now = Date.now();
    this.#expireDue(now);
    const known = this.#store.transfer(transferId);
    if (!known) {
      const take = Math.min(units, Math.max(0, this.#counts()?.available ?? 0));
      if (take === 0) return { ok: true, units: 0, delivered: true, replayed: false };
      this.#atomically(() => {
        this.#store.sendOut(transferId, to, take, now);
        this.#store.record("move_out", take, now, null, `to ${to}`);
      });
      this.#armFor(now + MOVE_RETRY_MS);
    }
    if (!known || known.state === "open") await this.#deliver(now, transferId);
    const move = this.#store.transfer(transferId);
    const moved = !move || move.state === "returned" || move.state === "superseded" ? 0 : move.units;
    return { ok: true, units: moved, delivered: move?.state === "delivered", replayed: known !== null };
  }

  /** The receiving side of a move: counts its units once, whatever number of times it is delivered. */
  moveIn(args: MoveInArgs): MoveInResult {
    const parsed = InventoryArgs.moveIn.safeParse(args);
    if (!parsed.success) return invalid(parsed.error);
    const move = parsed.data;
    const now = Date.now();
    const known = this.#store.transfer(move.transferId);
    if (known) {
      return { ok: true, state: known.state === "received" ? "received" : "superseded", replayed: true };
    }
    const stock = this.#store.stock();
    const state = !stock || stock.books.stockTake === move.stockTake ? "received" : "superseded";
    this.#atomically(() => {
      // A bucket first stocked by a move joins the stock take the move was sent under.
      if (!stock) this.#store.setOnHand(move.to, 0, move.stockTake, now);
      this.#store.receive({ ...move, id: move.transferId }, state, now);
      if (state === "received") {
        this.#store.record("move_in", move.units, now, null, `from ${move.from}`);
        this.#drain(now);
      }
    });
    return { ok: true, state, replayed: false };
  }

  /**
   * Retires this bucket from checkout (it now lies beyond the SKU's layout): its free units, and every
   * unit that comes free here from now on, move to `drainTo`. `null` brings it back into service.
   */
  async retire(
    name: string,
    drainTo: string | null,
  ): Promise<{ ok: true; inFlight: number } | InvalidArgument> {
    const checked = z.tuple([BucketName, BucketName.nullable()]).safeParse([name, drainTo]);
    if (!checked.success) return invalid(checked.error);
    const now = Date.now();
    this.#expireDue(now);
    const stock = this.#store.stock();
    if (!stock && drainTo === null) return { ok: true, inFlight: 0 };
    this.#atomically(() => {
      // An empty, never-stocked bucket still keeps its drain target, for whatever reaches it later.
      if (!stock) this.#store.setOnHand(name, 0, "", now);
      this.#store.drainTo(drainTo);
      this.#drain(now);
    });
    return { ok: true, inFlight: await this.#deliver(now) };
  }

  /** Delivers every open move now; answers how many are still open (their peers did not answer). */
  async finishMoves(): Promise<number> {
    return this.#deliver(Number.POSITIVE_INFINITY);
  }

  /** The movements of this object's stock, newest first. */
  ledger(limit = 100) {
    return this.#store.ledger(Math.min(Math.max(1, Math.trunc(limit) || 1), 1000));
  }

  /**
   * Expires due holds, delivers due moves, and re-arms for whichever comes next. Running it twice
   * changes nothing the second time.
   */
  override async alarm() {
    const now = Date.now();
    // The alarm that was set is the one running: whatever happens below may arm the next.
    this.#alarmAt = null;
    this.#dueFrom = 0;
    this.#expireDue(now);
    this.#store.prune(now - SETTLED_RETENTION_MS, now - SOLD_RETENTION_MS, now);
    await this.#deliver(now);
    const next = [this.#store.nextExpiry(), this.#store.nextTransferDue()]
      .filter((at): at is number => at !== null)
      .sort((a, b) => a - b)[0];
    if (next !== undefined) this.#armFor(next);
  }
}

function granted(reservation: Reservation) {
  return {
    ok: true as const,
    quantity: reservation.quantity,
    expiresAt: new Date(reservation.expiresAt).toISOString(),
  };
}
