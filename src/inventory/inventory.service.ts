import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { variants } from "../db/schema";
import { background, type Scope } from "../http/scope";
import { EdgeMemo } from "../shared/edge-memo";
import { AppError } from "../shared/errors";
import { ulid } from "../shared/ids";
import { logEvent } from "../shared/log";
import type { InventorySnapshot, StockChange, StockCounts } from "./inventory.do";

export type StockStatus = "in_stock" | "low_stock" | "sold_out";

type BucketDetail = StockCounts & { bucket: number; retired: boolean };

/**
 * Whether a SKU's units add up, from the books every bucket keeps since the last stock take. A
 * bucket moves exactly one figure of its books in the same write as each change of its shelf, so at
 * rest `onHand + committed + inTransit = stocked + adjusted`; `problems` says in words what does not.
 */
type Conservation = {
  /** What the last stock take counted, and what adjustments added or removed since. */
  stocked: number;
  adjusted: number;
  onHand: number;
  committed: number;
  /** Units that left one bucket and have not yet arrived in another. */
  inTransit: number;
  /** Free units in buckets checkout does not walk (0 unless a move is on its way). */
  stranded: number;
  balanced: boolean;
  problems: string[];
};

/** A SKU's stock summed over its buckets: what the API shows, whatever the layout. */
export type InventoryTotals = Omit<InventorySnapshot, "books"> & {
  bucketCount: number;
  buckets: BucketDetail[];
  conservation: Conservation;
};

/** Bucket 0 of a SKU is the object named after the SKU itself, so an unsplit SKU is simply one object. */
export function bucketName(sku: string, bucket: number): string {
  return bucket === 0 ? sku : `${sku}#${bucket}`;
}

export function bucketObject(env: Env, sku: string, bucket: number) {
  return env.INVENTORY.getByName(bucketName(sku, bucket));
}

export function stockStatus(available: number, lowStockThreshold: number): StockStatus {
  if (available <= 0) return "sold_out";
  return available <= lowStockThreshold ? "low_stock" : "in_stock";
}

const LAYOUT_TTL_SECONDS = 10;

/**
 * The bucket count the edge routes reservations by, remembered for a few seconds. A stale count is
 * safe: every bucket enforces its own stock, so a stale edge at worst leaves a new bucket unused for
 * a few seconds or asks an emptied one, which refuses and passes the order on.
 */
export async function bucketCount(scope: Scope, sku: string): Promise<number> {
  const memo = new EdgeMemo("inventory-layout", scope.origin);
  const remembered = await memo.get(sku);
  if (remembered) return Number(remembered);
  const { buckets } = await bucketObject(scope.env, sku, 0).layout();
  background(scope, "layout memo", memo.put(sku, String(buckets), LAYOUT_TTL_SECONDS));
  return buckets;
}

/** A SKU's four figures summed over its buckets, without reading any holds: for public reads. */
export async function readCounts(env: Env, sku: string): Promise<StockCounts> {
  const first = await bucketObject(env, sku, 0).countsAndLayout();
  if (!first.counts) throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}` });
  const others = await Promise.all(
    Array.from({ length: first.layout.span - 1 }, (_, i) => bucketObject(env, sku, i + 1).counts()),
  );
  const counts = [first.counts, ...others];
  const present: StockCounts[] = counts.flatMap((c) => (c ? [c] : []));
  const sum = (pick: (c: StockCounts) => number) => present.reduce((n, c) => n + pick(c), 0);
  return {
    onHand: sum((c) => c.onHand),
    reserved: sum((c) => c.reserved),
    available: sum((c) => c.available),
    committed: sum((c) => c.committed),
  };
}

/** A SKU's counts with the orders its buckets sold and gave back since a reader's cursors. */
export type SkuSales = StockCounts & {
  /** Where the reader goes on from: a ledger entry per bucket. */
  cursors: number[];
  sold: { orderId: string; units: number }[];
  returned: string[];
};

/**
 * A SKU's counts summed over its buckets, with the sales each bucket's ledger recorded after
 * `cursors[bucket]` (a bucket without one starts at `unseen`: null for "from now"). One order may be
 * sold in several buckets: the reader adds up its units.
 */
export async function readSales(
  env: Env,
  sku: string,
  cursors: number[],
  unseen: number | null,
): Promise<SkuSales> {
  const after = (bucket: number) => cursors[bucket] ?? unseen;
  const first = await bucketObject(env, sku, 0).countsAndSales(after(0));
  if (!first.counts) throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}` });
  const others = await Promise.all(
    Array.from({ length: first.layout.span - 1 }, (_, i) =>
      bucketObject(env, sku, i + 1).countsAndSales(after(i + 1)),
    ),
  );
  const reads = [first, ...others];
  const present = reads.flatMap((read) => (read.counts ? [read.counts] : []));
  const sum = (pick: (c: StockCounts) => number) => present.reduce((n, c) => n + pick(c), 0);
  return {
    onHand: sum((c) => c.onHand),
    reserved: sum((c) => c.reserved),
    available: sum((c) => c.available),
    committed: sum((c) => c.committed),
    cursors: reads.map((read) => read.sales.seq),
    sold: reads.flatMap((read) => read.sales.sold),
    returned: reads.flatMap((read) => read.sales.returned),
  };
}

/** The snapshots of a SKU's first `count` buckets, asked all at once (null where one keeps no stock). */
function bucketSnapshots(env: Env, sku: string, count: number) {
  return Promise.all(Array.from({ length: count }, (_, bucket) => bucketObject(env, sku, bucket).snapshot()));
}

/**
 * Has every bucket of a SKU deliver its open moves now (what a failure left half-done); answers how
 * many are still open because their receivers did not answer.
 */
export async function finishMoves(env: Env, sku: string): Promise<number> {
  const { span } = await bucketObject(env, sku, 0).layout();
  const open = await Promise.all(
    Array.from({ length: span }, (_, bucket) => bucketObject(env, sku, bucket).finishMoves()),
  );
  return open.reduce((a, b) => a + b, 0);
}

export async function readTotals(env: Env, sku: string): Promise<InventoryTotals> {
  const layout = await bucketObject(env, sku, 0).layout();
  const snapshots = await bucketSnapshots(env, sku, layout.span);
  const first = snapshots[0];
  if (!first) throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}` });
  const present = snapshots.flatMap((snapshot, bucket) => (snapshot ? [{ snapshot, bucket }] : []));
  const sum = (pick: (s: InventorySnapshot) => number) =>
    present.reduce((n, { snapshot }) => n + pick(snapshot), 0);
  return {
    sku,
    onHand: sum((s) => s.onHand),
    reserved: sum((s) => s.reserved),
    available: sum((s) => s.available),
    committed: sum((s) => s.committed),
    holds: mergeHolds(present.flatMap(({ snapshot }) => snapshot.holds)),
    holdCount: sum((s) => s.holdCount),
    // ISO 8601 UTC strings sort as the instants they name.
    updatedAt:
      present
        .map(({ snapshot }) => snapshot.updatedAt)
        .sort()
        .at(-1) ?? first.updatedAt,
    bucketCount: layout.buckets,
    buckets: present.map(({ snapshot, bucket }) => ({
      bucket,
      onHand: snapshot.onHand,
      reserved: snapshot.reserved,
      available: snapshot.available,
      committed: snapshot.committed,
      retired: bucket >= layout.buckets,
    })),
    conservation: conservation(present, layout.buckets),
  };
}

function conservation(
  present: { snapshot: InventorySnapshot; bucket: number }[],
  walked: number,
): Conservation {
  const sum = (pick: (s: InventorySnapshot) => number) =>
    present.reduce((n, { snapshot }) => n + pick(snapshot), 0);
  const problems: string[] = [];
  for (const { snapshot: s, bucket } of present) {
    const { stocked, adjusted, movedIn, movedOut } = s.books;
    if (s.onHand + s.committed !== stocked + adjusted + movedIn - movedOut) {
      problems.push(
        `bucket ${bucket}: on hand ${s.onHand} + committed ${s.committed} is not stocked ${stocked} + adjusted ${adjusted} + moved in ${movedIn} - moved out ${movedOut}`,
      );
    }
    if (s.available < 0) problems.push(`bucket ${bucket}: available ${s.available}`);
  }
  const stockTakes = new Set(present.map(({ snapshot }) => snapshot.books.stockTake));
  if (stockTakes.size > 1) {
    problems.push(
      "the buckets were counted by different stock takes: the last one did not finish; set the stock again",
    );
  }
  const inTransit = sum((s) => s.books.movedOut) - sum((s) => s.books.movedIn);
  const unacknowledged = sum((s) => s.books.inFlight);
  if (inTransit > unacknowledged) {
    problems.push(`${inTransit} units left a bucket but only ${unacknowledged} are on their way`);
  }
  const stranded = present
    .filter(({ bucket, snapshot }) => bucket >= walked && snapshot.available > 0)
    .reduce((n, { snapshot }) => n + snapshot.available, 0);
  if (stranded > 0) {
    problems.push(
      `${stranded} free units sit in buckets checkout does not walk; they move on by alarm, or rebalance now`,
    );
  }
  const figures = {
    stocked: sum((s) => s.books.stocked),
    adjusted: sum((s) => s.books.adjusted),
    onHand: sum((s) => s.onHand),
    committed: sum((s) => s.committed),
  };
  return { ...figures, inTransit, stranded, balanced: problems.length === 0, problems };
}

/** An order held in several buckets shows as one hold of the summed quantity. */
function mergeHolds(holds: InventorySnapshot["holds"]): InventorySnapshot["holds"] {
  const byOrder = new Map<string, InventorySnapshot["holds"][number]>();
  for (const hold of holds) {
    const seen = byOrder.get(hold.orderId);
    byOrder.set(
      hold.orderId,
      seen
        ? {
            ...seen,
            quantity: seen.quantity + hold.quantity,
            expiresAt: [seen.expiresAt, hold.expiresAt].sort()[1] ?? hold.expiresAt,
            pinned: seen.pinned || hold.pinned,
          }
        : hold,
    );
  }
  return [...byOrder.values()].sort((a, b) => a.expiresAt.localeCompare(b.expiresAt));
}

/** Only SKUs the catalog knows can be stocked: an admin typo must not create a phantom SKU. */
async function assertCatalogSku(env: Env, sku: string) {
  const [row] = await database(env.DB)
    .select({ sku: variants.sku })
    .from(variants)
    .where(eq(variants.sku, sku));
  if (!row) throw new AppError("sku_not_found", { detail: `No variant in the catalog has SKU ${sku}` });
}

function belowReserved(sku: string, onHand: number, reserved: number): AppError {
  return new AppError("stock_below_reserved", {
    detail: `${reserved} units of ${sku} are reserved; the change would leave fewer on hand`,
    extensions: { onHand, reserved },
  });
}

/** An object refusing its arguments means a caller skipped validation: a bug, never a client error. */
export function assertValidArguments<T extends { ok: boolean; error?: string; detail?: string }>(
  result: T,
): T {
  if (!result.ok && result.error === "invalid_argument") {
    throw new Error(`inventory object refused its arguments: ${result.detail}`);
  }
  return result;
}

function applied(change: StockChange, sku: string): void {
  assertValidArguments(change);
  if (change.ok) return;
  if (change.error === "not_stocked") {
    throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}; set it first` });
  }
  if (change.error === "stock_below_reserved") throw belowReserved(sku, change.onHand, change.reserved);
  if (change.error === "key_reused") {
    throw new AppError("idempotency_key_mismatch", {
      detail: "This Idempotency-Key was used for another adjustment of this SKU",
    });
  }
}

/** After a restock this location stops refusing the SKU at once; others within the sold-out TTL. */
async function forgetEdgeState(scope: Scope, sku: string) {
  await Promise.all([
    new EdgeMemo("sold-out", scope.origin).delete(sku),
    new EdgeMemo("inventory-layout", scope.origin).delete(sku),
  ]);
}

/** Units split as evenly as integers allow: the first `total % parts` get one more. */
function evenShares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

const SET_ATTEMPTS = 3;

/**
 * A stock take. With one bucket it is one atomic `set`. Over several buckets, every bucket keeps
 * what it has reserved and the free units are spread evenly over the buckets checkout walks, all
 * under one stock take id (which supersedes moves sent before it). A bucket whose holds moved under
 * us refuses, and the whole spread is recomputed from fresh snapshots.
 *
 * A change of layout keeps every free unit where checkout can reach it, at every step: a growing
 * SKU is walked over its new buckets before they are stocked; a shrinking one retires the buckets
 * beyond the new count (their free units, and every unit freed there later, move to a walked bucket)
 * before checkout stops walking them. A failure part-way leaves extra buckets walked or retired
 * early, both safe; the stock take itself is then to be repeated, and the conservation report says so.
 */
export async function setStock(
  scope: Scope,
  sku: string,
  onHand: number,
  buckets?: number,
): Promise<InventoryTotals> {
  await assertCatalogSku(scope.env, sku);
  const first = bucketObject(scope.env, sku, 0);
  const layout = await first.layout();
  const target = buckets ?? layout.buckets;
  const span = Math.max(target, layout.span);
  if (target === 1 && layout.span === 1) {
    applied(await first.set(sku, onHand), sku);
  } else {
    if (target > layout.buckets) await first.setLayout(target);
    await retireBeyond(scope.env, sku, target, span);
    if (target < layout.buckets) await first.setLayout(target);
    await spreadStock(scope.env, sku, onHand, target, span);
  }
  await forgetEdgeState(scope, sku);
  return readTotals(scope.env, sku);
}

/**
 * Puts buckets `[0, walked)` in service and retires the rest of `[walked, span)`, each draining to a
 * walked bucket. Every call is idempotent, so a repeat finishes what a failed one left.
 */
async function retireBeyond(env: Env, sku: string, walked: number, span: number) {
  const results = await Promise.all(
    Array.from({ length: span }, (_, bucket) =>
      bucketObject(env, sku, bucket).retire(
        bucketName(sku, bucket),
        bucket < walked ? null : bucketName(sku, bucket % walked),
      ),
    ),
  );
  for (const result of results) assertValidArguments(result);
}

async function spreadStock(env: Env, sku: string, onHand: number, target: number, span: number) {
  for (let attempt = 1; ; attempt++) {
    // A fresh id each attempt: moves sent between two attempts belong to neither count.
    const stockTake = ulid();
    const snapshots = await bucketSnapshots(env, sku, span);
    const reserved = snapshots.map((snapshot) => snapshot?.reserved ?? 0);
    const totalReserved = reserved.reduce((a, b) => a + b, 0);
    if (onHand < totalReserved) {
      throw belowReserved(
        sku,
        snapshots.reduce((n, s) => n + (s?.onHand ?? 0), 0),
        totalReserved,
      );
    }
    const free = evenShares(onHand - totalReserved, target);
    const results = await Promise.all(
      reserved.map((held, bucket) =>
        bucketObject(env, sku, bucket).set(bucketName(sku, bucket), held + (free[bucket] ?? 0), stockTake),
      ),
    );
    const refused = results.find((result) => !result.ok);
    if (!refused) return;
    if (attempt === SET_ATTEMPTS) applied(refused, sku);
  }
}

/**
 * Adds or removes units, in the SKU's first bucket, atomically: over several buckets a removal first
 * gathers enough free units there by moves, and the free units are evened out by moves afterwards.
 * Moves are durable, so a failure part-way changes where units are, never how many. With a `key` the
 * adjustment is made once, so a request answered 503 can be repeated safely.
 */
export async function adjustStock(scope: Scope, sku: string, delta: number, reason: string, key?: string) {
  const env = scope.env;
  const first = bucketObject(env, sku, 0);
  const layout = await first.layout();
  if (layout.span === 1) {
    applied(await first.adjust(delta, reason, key), sku);
  } else {
    // A repeat of a removal already made (same key) has nothing to gather: it only answers again.
    const repeat = key !== undefined && (await first.madeAdjustment(key));
    if (delta < 0 && !repeat)
      await gather(env, sku, await walkedSnapshots(env, sku, layout.buckets), 0, -delta);
    const change = await first.adjust(delta, reason, key);
    if (!change.ok && change.error === "stock_below_reserved") {
      // Say it with the SKU's figures, not the one bucket's.
      const totals = await readCounts(env, sku);
      throw belowReserved(sku, totals.onHand, totals.reserved);
    }
    applied(change, sku);
    await evenOut(env, sku, layout.buckets).catch((error) =>
      logEvent("warn", "evening out a SKU's buckets failed; its moves finish by alarm", {
        sku,
        error: String(error),
      }),
    );
  }
  if (delta > 0) await forgetEdgeState(scope, sku);
  return readTotals(env, sku);
}

type WalkedBucket = { bucket: number; available: number };

async function walkedSnapshots(env: Env, sku: string, walked: number): Promise<WalkedBucket[]> {
  const snapshots = await bucketSnapshots(env, sku, walked);
  if (!snapshots[0]) throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}` });
  return snapshots.map((snapshot, bucket) => ({ bucket, available: snapshot?.available ?? 0 }));
}

/**
 * Moves free units from the other walked buckets into `into` until it has `units` free, if it can. A
 * move that could not be delivered yet stops it: its units are on their way, not yet usable there.
 */
async function gather(env: Env, sku: string, buckets: WalkedBucket[], into: number, units: number) {
  let missing = units - (buckets.find((b) => b.bucket === into)?.available ?? 0);
  for (const { bucket, available } of [...buckets].sort((a, b) => b.available - a.available)) {
    if (missing <= 0) return;
    if (bucket === into || available === 0) continue;
    const moved = await move(env, sku, bucket, into, Math.min(available, missing));
    if (!moved.delivered) {
      throw new AppError("service_unavailable", {
        detail: `Units of ${sku} are still moving between its buckets; retry shortly`,
        headers: { "Retry-After": "1" },
      });
    }
    missing -= moved.units;
  }
}

/** One durable move of free units between two buckets: how many it took (maybe fewer), and whether they arrived. */
async function move(env: Env, sku: string, from: number, to: number, units: number) {
  const result = assertValidArguments(
    await bucketObject(env, sku, from).moveOut({ transferId: ulid(), to: bucketName(sku, to), units }),
  );
  return result.ok ? result : { units: 0, delivered: true };
}

/** Evens out the free units over the walked buckets by moves, from the richest to the poorest. */
async function evenOut(env: Env, sku: string, walked: number) {
  const buckets = await walkedSnapshots(env, sku, walked);
  const targets = evenShares(
    buckets.reduce((n, b) => n + b.available, 0),
    walked,
  );
  const surplus = buckets
    .map(({ bucket, available }) => ({ bucket, units: available - (targets[bucket] ?? 0) }))
    .filter((b) => b.units > 0);
  const deficit = buckets
    .map(({ bucket, available }) => ({ bucket, units: (targets[bucket] ?? 0) - available }))
    .filter((b) => b.units > 0);
  for (const need of deficit) {
    for (const give of surplus) {
      if (need.units === 0) break;
      const units = Math.min(need.units, give.units);
      if (units === 0) continue;
      const { units: moved } = await move(env, sku, give.bucket, need.bucket, units);
      give.units -= moved;
      need.units -= moved;
    }
  }
}

/**
 * Evens out the free units over a SKU's buckets. First it finishes whatever earlier moves left
 * half-done and retires any bucket beyond the layout that still keeps free units; then every unit
 * it moves goes by a durable move, so no unit is created or lost, even while reservations go on.
 */
export async function rebalance(scope: Scope, sku: string): Promise<InventoryTotals> {
  const env = scope.env;
  const layout = await bucketObject(env, sku, 0).layout();
  if (layout.span > 1) {
    await retireBeyond(env, sku, layout.buckets, layout.span);
    await finishMoves(env, sku);
    await evenOut(env, sku, layout.buckets);
  }
  const totals = await readTotals(env, sku);
  await forgetEdgeState(scope, sku);
  return totals;
}

/** The stock movements of a SKU over all its buckets, newest first. */
export async function readLedger(env: Env, sku: string, limit: number) {
  const layout = await bucketObject(env, sku, 0).layout();
  const ledgers = await Promise.all(
    Array.from({ length: layout.span }, async (_, bucket) =>
      (await bucketObject(env, sku, bucket).ledger(limit)).map((entry) => ({ bucket, ...entry })),
    ),
  );
  if (ledgers[0]?.length === 0)
    throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}` });
  return ledgers
    .flat()
    .sort((a, b) => b.at.localeCompare(a.at) || b.seq - a.seq)
    .slice(0, limit);
}
