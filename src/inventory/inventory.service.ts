import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { variants } from "../db/schema";
import { AppError } from "../errors";
import { EdgeMemo } from "../shared/edge-memo";
import { background, type Scope } from "../shared/scope";
import type { InventorySnapshot, StockChange, StockCounts } from "./inventory.do";

export type StockStatus = "in_stock" | "low_stock" | "sold_out";

export type BucketDetail = StockCounts & { bucket: number };

/** A SKU's stock summed over its buckets: what the API shows, whatever the layout. */
export type InventoryTotals = InventorySnapshot & { bucketCount: number; buckets: BucketDetail[] };

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

export async function readTotals(env: Env, sku: string): Promise<InventoryTotals> {
  const layout = await bucketObject(env, sku, 0).layout();
  const snapshots = await Promise.all(
    Array.from({ length: layout.span }, (_, bucket) => bucketObject(env, sku, bucket).snapshot()),
  );
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
    })),
  };
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
}

/** After a restock this location stops refusing the SKU at once; others within the sold-out TTL. */
async function forgetEdgeState(scope: Scope, sku: string) {
  await Promise.all([
    new EdgeMemo("sold-out", scope.origin).delete(sku),
    new EdgeMemo("inventory-layout", scope.origin).delete(sku),
  ]);
}

/** Units split as evenly as integers allow: the first `total % parts` get one more. */
export function evenShares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

const SET_ATTEMPTS = 3;

/**
 * A stock take. With one bucket it is one atomic `set`. Over several buckets, every bucket keeps
 * what it has reserved and the free units are spread evenly; a bucket beyond a shrunk layout keeps
 * only its holds, which drain as they settle. A bucket whose holds moved under us refuses, and the
 * whole spread is recomputed from fresh snapshots.
 */
export async function setStock(
  scope: Scope,
  sku: string,
  onHand: number,
  buckets?: number,
): Promise<InventoryTotals> {
  await assertCatalogSku(scope.env, sku);
  const layout = await bucketObject(scope.env, sku, 0).layout();
  const target = buckets ?? layout.buckets;
  if (target === 1 && layout.span === 1) {
    applied(await bucketObject(scope.env, sku, 0).set(sku, onHand), sku);
  } else {
    await spreadStock(scope.env, sku, onHand, target, Math.max(target, layout.span));
  }
  if (target !== layout.buckets) await bucketObject(scope.env, sku, 0).setLayout(target);
  await forgetEdgeState(scope, sku);
  return readTotals(scope.env, sku);
}

async function spreadStock(env: Env, sku: string, onHand: number, target: number, span: number) {
  for (let attempt = 1; ; attempt++) {
    const snapshots = await Promise.all(
      Array.from({ length: span }, (_, bucket) => bucketObject(env, sku, bucket).snapshot()),
    );
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
        bucketObject(env, sku, bucket).set(bucketName(sku, bucket), held + (free[bucket] ?? 0)),
      ),
    );
    const refused = results.find((result) => !result.ok);
    if (!refused) return;
    if (attempt === SET_ATTEMPTS) applied(refused, sku);
  }
}

/**
 * Adds or removes units. Over several buckets, added units are spread evenly and removed units are
 * taken from the buckets with the most free; a removal that cannot be completed is put back.
 */
export async function adjustStock(scope: Scope, sku: string, delta: number, reason: string) {
  const layout = await bucketObject(scope.env, sku, 0).layout();
  if (layout.span === 1) {
    applied(await bucketObject(scope.env, sku, 0).adjust(delta, reason), sku);
  } else if (delta > 0) {
    const shares = evenShares(delta, layout.buckets);
    const results = await Promise.all(
      shares.map((share, bucket) =>
        share > 0 ? bucketObject(scope.env, sku, bucket).adjust(share, reason) : null,
      ),
    );
    for (const result of results) if (result) applied(result, sku);
  } else {
    await withdraw(scope.env, sku, -delta, reason, layout.span);
  }
  if (delta > 0) await forgetEdgeState(scope, sku);
  return readTotals(scope.env, sku);
}

async function withdraw(env: Env, sku: string, units: number, reason: string, span: number) {
  const snapshots = await Promise.all(
    Array.from({ length: span }, (_, bucket) => bucketObject(env, sku, bucket).snapshot()),
  );
  const order = snapshots
    .map((snapshot, bucket) => ({ bucket, available: snapshot?.available ?? 0 }))
    .sort((a, b) => b.available - a.available);
  const taken: { bucket: number; units: number }[] = [];
  let remaining = units;
  for (const { bucket, available } of order) {
    if (remaining === 0) break;
    const take = Math.min(available, remaining);
    if (take === 0) continue;
    const result = await bucketObject(env, sku, bucket).adjust(-take, reason);
    if (!result.ok) continue;
    taken.push({ bucket, units: take });
    remaining -= take;
  }
  if (remaining > 0) {
    await Promise.all(
      taken.map(({ bucket, units: back }) =>
        bucketObject(env, sku, bucket).adjust(back, `undo: ${reason}`.slice(0, 500)),
      ),
    );
    const total = snapshots.reduce((n, s) => n + (s?.onHand ?? 0), 0);
    const reserved = snapshots.reduce((n, s) => n + (s?.reserved ?? 0), 0);
    throw belowReserved(sku, total, reserved);
  }
}

/**
 * Evens out the free units over a SKU's buckets: takes from the richest first, then gives exactly
 * what was taken, so no unit is ever created or lost even while reservations go on.
 */
export async function rebalance(scope: Scope, sku: string): Promise<InventoryTotals> {
  const env = scope.env;
  const layout = await bucketObject(env, sku, 0).layout();
  const snapshots = await Promise.all(
    Array.from({ length: layout.span }, (_, bucket) => bucketObject(env, sku, bucket).snapshot()),
  );
  if (!snapshots[0]) throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}` });
  const available = snapshots.map((snapshot) => snapshot?.available ?? 0);
  const targets = evenShares(
    available.reduce((a, b) => a + b, 0),
    layout.buckets,
  );
  let pool = 0;
  for (const [bucket, free] of available.entries()) {
    const surplus = free - (targets[bucket] ?? 0);
    if (surplus <= 0) continue;
    const result = await bucketObject(env, sku, bucket).adjust(-surplus, "rebalance out");
    if (result.ok) pool += surplus;
  }
  for (const [bucket, free] of available.entries()) {
    const deficit = Math.min((targets[bucket] ?? 0) - free, pool);
    if (deficit <= 0) continue;
    const result = await bucketObject(env, sku, bucket).adjust(deficit, "rebalance in");
    if (result.ok) pool -= deficit;
  }
  if (pool > 0) await bucketObject(env, sku, 0).adjust(pool, "rebalance in");
  await forgetEdgeState(scope, sku);
  return readTotals(env, sku);
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
