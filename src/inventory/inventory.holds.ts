import { settings } from "../config";
import { AppError } from "../errors";
import { EdgeMemo, memoMayHoldAny, peekMemo } from "../shared/edge-memo";
import { background, type Scope } from "../shared/scope";
import type { SettleResult } from "./inventory.do";
import { assertValidArguments, bucketCount, bucketObject, readCounts } from "./inventory.service";

export type CartLine = { sku: string; quantity: number };

/** Where an order's units of one SKU are held: which buckets, how many in each. */
export type SkuHold = {
  sku: string;
  quantity: number;
  expiresAt: string;
  buckets: { bucket: number; quantity: number }[];
};

export type ShortSku = { sku: string; requested: number; available: number };

export type CartReservation =
  | { ok: true; holds: SkuHold[]; expiresAt: string }
  | { ok: false; short: ShortSku[] };

type SkuOutcome =
  | { ok: true; hold: SkuHold; touched: number[] }
  | { ok: false; short: ShortSku; touched: number[] };

/** Duplicate SKUs in a cart are one line with the quantities added. */
export function mergeLines(lines: CartLine[]): CartLine[] {
  const merged = new Map<string, number>();
  for (const { sku, quantity } of lines) merged.set(sku, (merged.get(sku) ?? 0) + quantity);
  return [...merged].map(([sku, quantity]) => ({ sku, quantity }));
}

/** FNV-1a: a stable spread of orders over buckets, so a retry walks the buckets in the same order. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const SOLD_OUT = "sold-out";

function soldOutMemo(scope: Scope) {
  return new EdgeMemo(SOLD_OUT, scope.origin);
}

/** Whether this isolate's memory already says `sku` is sold out: no I/O, so no doubt either way. */
export function remembersSoldOut(sku: string): boolean {
  return Boolean(peekMemo(SOLD_OUT, sku));
}

/** False when this isolate remembers no sold-out SKU at all, so no cart can be refused from memory. */
export function remembersAnySoldOut(): boolean {
  return memoMayHoldAny(SOLD_OUT);
}

/**
 * Holds one SKU for an order. An unsplit SKU is one all-or-nothing call. A split SKU walks its
 * buckets from one picked by the order id, taking what each has until the quantity is met; each bucket
 * remembers what it gave this order (even nothing), so a retried walk cannot hold twice.
 */
async function reserveSku(
  env: Env,
  orderId: string,
  line: CartLine,
  buckets: number,
  expiresAtMs: number,
): Promise<SkuOutcome> {
  if (buckets === 1) {
    const result = assertValidArguments(
      await bucketObject(env, line.sku, 0).reserve({ orderId, quantity: line.quantity, expiresAtMs }),
    );
    if (!result.ok) {
      const available = "available" in result ? result.available : 0;
      return { ok: false, short: { ...requested(line), available }, touched: [] };
    }
    const hold = {
      sku: line.sku,
      quantity: result.quantity,
      expiresAt: result.expiresAt,
      buckets: [{ bucket: 0, quantity: result.quantity }],
    };
    return { ok: true, hold, touched: [0] };
  }

  const start = hash(orderId) % buckets;
  const held: SkuHold["buckets"] = [];
  const touched: number[] = [];
  let remaining = line.quantity;
  let availableElsewhere = 0;
  let expiresAt = new Date(expiresAtMs).toISOString();
  for (let step = 0; step < buckets && remaining > 0; step++) {
    const bucket = (start + step) % buckets;
    touched.push(bucket);
    const result = assertValidArguments(
      await bucketObject(env, line.sku, bucket).reserve({
        orderId,
        quantity: remaining,
        expiresAtMs,
        partial: true,
      }),
    );
    availableElsewhere += "available" in result ? result.available : 0;
    if (result.ok && result.quantity > 0) {
      held.push({ bucket, quantity: result.quantity });
      remaining -= result.quantity;
      if (result.expiresAt < expiresAt) expiresAt = result.expiresAt;
    }
  }
  const got = line.quantity - remaining;
  if (remaining > 0) {
    return { ok: false, short: { ...requested(line), available: got + availableElsewhere }, touched };
  }
  return { ok: true, hold: { sku: line.sku, quantity: got, expiresAt, buckets: held }, touched };
}

/** What a SKU could give right now, read without holding anything; an unstocked SKU has nothing. */
async function availableNow(env: Env, sku: string): Promise<number> {
  try {
    return (await readCounts(env, sku)).available;
  } catch (error) {
    if (error instanceof AppError && error.code === "sku_not_found") return 0;
    throw error;
  }
}

function requested(line: CartLine) {
  return { sku: line.sku, requested: line.quantity };
}

/**
 * Reserves a whole cart for an order, all or nothing. Every SKU is asked in parallel and no lock is
 * held across objects, so overlapping carts cannot deadlock. If any SKU is short, every unit obtained
 * is released and every short SKU is reported. Safe to retry with the same order id.
 *
 * SKUs known to be sold out at this location are refused without reaching their objects: in a flash
 * sale the late buyers then cost an isolate lookup, not a Durable Object request.
 */
/**
 * The sold-out fast path: when this location knows a SKU of the cart is sold out, answers the
 * shortage without holding anything (and without reaching the sold-out SKU's objects); otherwise
 * null. Other SKUs of such a cart are read, not held, so every short SKU is still reported.
 */
export async function knownShortage(scope: Scope, lines: CartLine[]): Promise<ShortSku[] | null> {
  const cart = mergeLines(lines);
  const memo = soldOutMemo(scope);
  const flags = await Promise.all(cart.map((line) => memo.get(line.sku)));
  if (!flags.some(Boolean)) return null;
  const short = await Promise.all(
    cart.map(async (line, i) =>
      flags[i]
        ? { ...requested(line), available: 0 }
        : { ...requested(line), available: await availableNow(scope.env, line.sku) },
    ),
  );
  return short.filter((s) => s.available < s.requested);
}

export async function reserveCart(
  scope: Scope,
  orderId: string,
  lines: CartLine[],
): Promise<CartReservation> {
  const cart = mergeLines(lines);
  const known = await knownShortage(scope, cart);
  if (known) return { ok: false, short: known };
  const memo = soldOutMemo(scope);

  const { holdTtlSeconds, soldOutTtlSeconds } = settings(scope.env);
  const expiresAtMs = Date.now() + holdTtlSeconds * 1000;
  const outcomes = await Promise.allSettled(
    cart.map(async (line) =>
      reserveSku(scope.env, orderId, line, await bucketCount(scope, line.sku), expiresAtMs),
    ),
  );

  const settled = outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (!failed && settled.every((outcome) => outcome.ok)) {
    const holds = settled.flatMap((outcome) => (outcome.ok ? [outcome.hold] : []));
    // A replayed reservation keeps the expiry its holds were given the first time.
    const expiresAt = holds.map((hold) => hold.expiresAt).sort()[0] ?? new Date(expiresAtMs).toISOString();
    return { ok: true, holds, expiresAt };
  }

  // Something is short or failed: give back everything this attempt touched, in every SKU. An
  // object that cannot be reached now still lets its hold expire by its own alarm.
  const touchedLines = cart.flatMap((line, i) => {
    const outcome = outcomes[i];
    if (outcome?.status === "fulfilled") return [{ sku: line.sku, buckets: outcome.value.touched }];
    return [{ sku: line.sku, buckets: [0] }];
  });
  await releaseBuckets(scope.env, orderId, touchedLines);
  if (failed) {
    throw new AppError("service_unavailable", {
      detail: "Inventory could not be reached; nothing was held",
      headers: { "Retry-After": "1" },
      cause: failed.reason,
    });
  }

  const short = settled.flatMap((outcome) => (outcome.ok ? [] : [outcome.short]));
  for (const { sku, available } of short) {
    if (available === 0) background(scope, "sold-out flag", memo.put(sku, "1", soldOutTtlSeconds));
  }
  return { ok: false, short };
}

async function releaseBuckets(env: Env, orderId: string, lines: { sku: string; buckets: number[] }[]) {
  await Promise.allSettled(
    lines.flatMap(({ sku, buckets }) =>
      buckets.map((bucket) => bucketObject(env, sku, bucket).release(orderId)),
    ),
  );
}

/** Turns an order's holds into sales. Answers per bucket whether the units were committed (or had been). */
export function commitHolds(env: Env, orderId: string, holds: SkuHold[]) {
  return settleHolds(
    holds,
    async (sku, bucket) => (await bucketObject(env, sku, bucket).commit(orderId)) as SettleResult,
  );
}

/** Returns an order's held units to stock. */
export function releaseHolds(env: Env, orderId: string, holds: SkuHold[]) {
  return settleHolds(
    holds,
    async (sku, bucket) => (await bucketObject(env, sku, bucket).release(orderId)) as SettleResult,
  );
}

/** Keeps an order's holds alive until `untilMs`, e.g. while its payment is in flight. */
export function extendHolds(env: Env, orderId: string, holds: SkuHold[], untilMs: number) {
  return settleHolds(
    holds,
    async (sku, bucket) => (await bucketObject(env, sku, bucket).extend(orderId, untilMs)) as SettleResult,
  );
}

async function settleHolds(
  holds: SkuHold[],
  settle: (sku: string, bucket: number) => Promise<SettleResult>,
): Promise<{ sku: string; bucket: number; result: SettleResult }[]> {
  return Promise.all(
    holds.flatMap(({ sku, buckets }) =>
      buckets.map(async ({ bucket }) => ({ sku, bucket, result: await settle(sku, bucket) })),
    ),
  );
}
