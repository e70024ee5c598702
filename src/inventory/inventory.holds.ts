import { background, type Scope } from "../http/scope";
import { settings } from "../shared/config";
import { EdgeMemo, memoMayHoldAny, peekMemo } from "../shared/edge-memo";
import { AppError } from "../shared/errors";
import type { Allowance, AllowanceKind } from "./allowances";
import type { ShareArgs } from "./inventory.args";
import type { BatchHold, BatchReserveResult, SettleResult } from "./inventory.do";
import { assertValidArguments, bucketCount, bucketName, bucketObject, readCounts } from "./inventory.service";

export type CartLine = { sku: string; quantity: number };

/** Where an order's units of one SKU are held: which buckets, how many in each. */
export type SkuHold = {
  sku: string;
  quantity: number;
  expiresAt: string;
  buckets: { bucket: number; quantity: number }[];
  /** Set for a hold on an allowance object (a customer's, a card's, a pass's), not on stock. */
  allowance?: AllowanceKind;
  /**
   * Set for a hold that counts a discount code's use (its total cap, or a customer's or a card's
   * allowance of it): the code (a batch's prefix for a batch's allowance per customer). Orders stored
   * before it have none, and no use of theirs is ever given back.
   */
  code?: string;
};

/** What a hold says of the line it was taken for: its allowance's kind, and the code it counts a use of. */
function marksOf(line: PlannedLine): Pick<SkuHold, "allowance" | "code"> {
  if (!line.allowance) return {};
  const { kind, limit } = line.allowance;
  return limit.scope === "code" || limit.scope === "uses"
    ? { allowance: kind, code: limit.code }
    : { allowance: kind };
}

export type ShortSku = { sku: string; requested: number; available: number };

/**
 * What reserving a cart came to. A failed one gave back everything it touched, unless `leftovers` says
 * a release could not be made (those buckets still hold until released or expired).
 */
export type CartReservation =
  | { ok: true; holds: SkuHold[]; expiresAt: string }
  | { ok: false; short: ShortSku[]; overAllowance: OverAllowance[]; leftovers: boolean }
  | { ok: false; unavailable: true; cause: unknown; leftovers: boolean };

/** An allowance a cart would exceed: the line, and what the allowance has left now. */
export type OverAllowance = { line: PlannedLine & { allowance: Allowance }; available: number };

type SkuOutcome =
  | { ok: true; hold: SkuHold; touched: number[] }
  | { ok: false; short: ShortSku; touched: number[] };

/** Duplicate SKUs in a cart are one line with the quantities added. */
export function mergeLines(lines: CartLine[]): CartLine[] {
  const merged = new Map<string, number>();
  for (const { sku, quantity } of lines) merged.set(sku, (merged.get(sku) ?? 0) + quantity);
  return [...merged].map(([sku, quantity]) => ({ sku, quantity }));
}

/**
 * A walk over a split cap's buckets that got nothing, where a bucket said a change of the cap is
 * passing through (see SkuInventory.reserveShare): the cart is answered as unavailable (503, retry),
 * never as the code used up, and nothing of it is remembered.
 */
export class CapChanging extends Error {
  constructor(readonly sku: string) {
    super("a change of a discount code's cap is under way; retry shortly");
  }
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
 * Where a line of a hot code's split cap holds in one bucket (see code-uses.ts); undefined for any
 * other line, which holds as stock (or within its one allowance object) does.
 */
function shareOf(line: PlannedLine, bucket: number): ShareArgs | undefined {
  const { allowance } = line;
  if (!allowance || line.buckets === 1) return undefined;
  return {
    name: bucketName(line.sku, bucket),
    bucket,
    of: line.buckets,
    cap: allowance.limit.max,
    version: allowance.version ?? 0,
    fresh: allowance.fresh ?? false,
  };
}

/**
 * Holds one SKU for an order. An unsplit SKU is one all-or-nothing call. A split SKU walks its
 * buckets from one picked by the order id, taking what each has until the quantity is met; each bucket
 * remembers what it gave this order (even nothing), so a retried walk cannot hold twice.
 */
async function reserveSku(
  env: Env,
  orderId: string,
  line: PlannedLine,
  buckets: number,
  expiresAtMs: number,
): Promise<SkuOutcome> {
  if (buckets === 1) {
    const args = { orderId, quantity: line.quantity, expiresAtMs };
    const object = bucketObject(env, line.sku, 0);
    const result = assertValidArguments(
      line.allowance === undefined
        ? await object.reserve(args)
        : await object.reserveWithin(args, line.sku, line.allowance.limit.max, line.allowance.version ?? 0),
    );
    if (!result.ok) {
      const available = "available" in result ? result.available : 0;
      return { ok: false, short: { ...requested(line), available }, touched: [] };
    }
    const hold: SkuHold = {
      sku: line.sku,
      quantity: result.quantity,
      expiresAt: result.expiresAt,
      buckets: [{ bucket: 0, quantity: result.quantity }],
      ...marksOf(line),
    };
    return { ok: true, hold, touched: [0] };
  }

  const start = hash(orderId) % buckets;
  const held: SkuHold["buckets"] = [];
  const touched: number[] = [];
  let remaining = line.quantity;
  let availableElsewhere = 0;
  let notReady = false;
  let expiresAt = new Date(expiresAtMs).toISOString();
  for (let step = 0; step < buckets && remaining > 0; step++) {
    const bucket = (start + step) % buckets;
    touched.push(bucket);
    const args = { orderId, quantity: remaining, expiresAtMs, partial: true };
    const share = shareOf(line, bucket);
    const object = bucketObject(env, line.sku, bucket);
    const result = assertValidArguments(
      share ? await object.reserveShare(args, share) : await object.reserve(args),
    );
    if (!result.ok && result.error === "not_ready") notReady = true;
    availableElsewhere += "available" in result ? result.available : 0;
    if (result.ok && result.quantity > 0) {
      held.push({ bucket, quantity: result.quantity });
      remaining -= result.quantity;
      if (result.expiresAt < expiresAt) expiresAt = result.expiresAt;
    }
  }
  const got = line.quantity - remaining;
  // Thrown, so the cart gives back every bucket of the line and answers unavailable.
  if (remaining > 0 && notReady) throw new CapChanging(line.sku);
  if (remaining > 0) {
    return { ok: false, short: { ...requested(line), available: got + availableElsewhere }, touched };
  }
  return {
    ok: true,
    hold: { sku: line.sku, quantity: got, expiresAt, buckets: held, ...marksOf(line) },
    touched,
  };
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
 * The sold-out fast path: when this location knows a SKU of the cart is sold out, answers the
 * shortage without holding anything (and without reaching the sold-out SKU's objects); otherwise
 * null. Other SKUs of such a cart are read, not held, so every short SKU is still reported.
 */
async function knownShortage(scope: Scope, lines: CartLine[]): Promise<ShortSku[] | null> {
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

/**
 * The cheapest refusal: every SKU of the cart is known to this isolate's memory to be sold out. No
 * I/O, no object, no limiter, no catalog: late buyers of a sale cost this. It runs before the rate
 * limiter, so it only reads memory: a stranger's invented SKUs neither cost lookups nor stay here.
 */
export function knownSoldOut(lines: CartLine[]): ShortSku[] | null {
  const cart = mergeLines(lines);
  if (!cart.every((line) => remembersSoldOut(line.sku))) return null;
  return cart.map((line) => ({ ...requested(line), available: 0 }));
}

/**
 * A cart line with the bucket count its SKU is routed by, as this edge knows it; an allowance line
 * (see allowances.ts) says what it stands for.
 */
export type PlannedLine = CartLine & { buckets: number; allowance?: Allowance };

/**
 * What the edge knows before anything is held: a shortage it can already answer (the sold-out fast
 * path), or each line with its SKU's bucket count, for `holdCart`.
 */
export async function planCart(
  scope: Scope,
  lines: CartLine[],
): Promise<{ ok: true; lines: PlannedLine[] } | { ok: false; short: ShortSku[] }> {
  const cart = mergeLines(lines);
  const known = await knownShortage(scope, cart);
  if (known) return { ok: false, short: known };
  const planned = await Promise.all(
    cart.map(async (line) => ({ ...line, buckets: await bucketCount(scope, line.sku) })),
  );
  return { ok: true, lines: planned };
}

/** Remembers at this location the SKUs a refused cart found empty, for the sold-out fast path. */
export function rememberShortage(scope: Scope, short: ShortSku[]) {
  const { soldOutTtlSeconds } = settings(scope.env);
  const memo = soldOutMemo(scope);
  for (const { sku, available } of short) {
    if (available === 0) background(scope, "sold-out flag", memo.put(sku, "1", soldOutTtlSeconds));
  }
}

/**
 * Reserves a whole cart for an order, all or nothing, until `expiresAtMs`. Every SKU is asked in
 * parallel and no lock is held across objects, so overlapping carts cannot deadlock. If any SKU is
 * short, or an object cannot be reached, every unit obtained is released and every short SKU is
 * reported. Safe to retry with the same order id.
 */
export async function holdCart(
  env: Env,
  orderId: string,
  lines: PlannedLine[],
  expiresAtMs: number,
): Promise<CartReservation> {
  const outcomes = await Promise.allSettled(
    lines.map((line) => reserveSku(env, orderId, line, line.buckets, expiresAtMs)),
  );

  const settled = outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (!failed && settled.every((outcome) => outcome.ok)) {
    const holds = settled.flatMap((outcome) => (outcome.ok ? [outcome.hold] : []));
    // A replayed reservation keeps the expiry its holds were given the first time.
    const expiresAt = holds.map((hold) => hold.expiresAt).sort()[0] ?? new Date(expiresAtMs).toISOString();
    return { ok: true, holds, expiresAt };
  }

  // Something is short or failed: give back everything this attempt may have touched, in every SKU.
  // An object that cannot be reached now still lets its hold expire by its own alarm.
  const touchedLines = lines.map((line, i) => {
    const outcome = outcomes[i];
    if (outcome?.status === "fulfilled") return { sku: line.sku, buckets: outcome.value.touched };
    return { sku: line.sku, buckets: everyBucket(line.buckets) };
  });
  const leftovers = !(await releaseBuckets(env, orderId, touchedLines));
  if (failed) return { ok: false, unavailable: true, cause: failed.reason, leftovers };
  const short: ShortSku[] = [];
  const overAllowance: OverAllowance[] = [];
  settled.forEach((outcome, i) => {
    const line = lines[i];
    if (outcome.ok || !line) return;
    if (line.allowance)
      overAllowance.push({
        line: { ...line, allowance: line.allowance },
        available: outcome.short.available,
      });
    else short.push(outcome.short);
  });
  return { ok: false, short, overAllowance, leftovers };
}

/** One order's cart in a batch of checkouts (see holdCarts). */
export type CartRequest = { orderId: string; lines: PlannedLine[]; expiresAtMs: number };

/** Where one line of one cart stands in a batch's walk over the buckets. */
type LineWalk = {
  cart: number;
  line: PlannedLine;
  start: number;
  step: number;
  remaining: number;
  held: SkuHold["buckets"];
  touched: number[];
  availableElsewhere: number;
  /** A bucket said a change of the cap is passing through (see CapChanging). */
  notReady: boolean;
  expiresAt: string;
  /** Set when the line is decided: held (remaining 0), short, or failed (with why). */
  done: boolean;
  short: boolean;
  failed: unknown;
};

/**
 * Reserves the carts of many orders (a shard's batch of checkouts), each all or nothing, as `holdCart`
 * would one by one, but with one call per inventory object per step of the walk, carrying every
 * order's line for that object. Each order is answered on its own: one order's shortage, or a failure
 * of its hold, never fails another's. An object that cannot be reached fails the lines it was asked
 * for (those orders answer `unavailable`), and the others go on. A batch of one is `holdCart` itself.
 */
export async function holdCarts(env: Env, carts: CartRequest[]): Promise<CartReservation[]> {
  if (carts.length === 1) {
    const [cart] = carts as [CartRequest];
    return [await holdCart(env, cart.orderId, cart.lines, cart.expiresAtMs)];
  }
  const walks: LineWalk[] = carts.flatMap((cart, index) =>
    cart.lines.map((line) => ({
      cart: index,
      line,
      start: line.buckets === 1 ? 0 : hash(cart.orderId) % line.buckets,
      step: 0,
      remaining: line.quantity,
      held: [],
      touched: [],
      availableElsewhere: 0,
      notReady: false,
      expiresAt: new Date(cart.expiresAtMs).toISOString(),
      done: false,
      short: false,
      failed: undefined,
    })),
  );
  // Each round asks every object once, for every line whose walk is at it; a split SKU's line that
  // is still short walks on to its next bucket in the next round.
  while (walks.some((walk) => !walk.done)) {
    const byObject = new Map<string, { sku: string; bucket: number; walks: LineWalk[] }>();
    for (const walk of walks) {
      if (walk.done) continue;
      const bucket = (walk.start + walk.step) % walk.line.buckets;
      const name = bucketName(walk.line.sku, bucket);
      const group = byObject.get(name) ?? { sku: walk.line.sku, bucket, walks: [] };
      group.walks.push(walk);
      byObject.set(name, group);
    }
    await Promise.all(
      [...byObject.values()].map(async ({ sku, bucket, walks: asked }) => {
        const holds = asked.map((walk): BatchHold => {
          const cart = carts[walk.cart] as CartRequest;
          const args = {
            orderId: cart.orderId,
            quantity: walk.remaining,
            expiresAtMs: cart.expiresAtMs,
            ...(walk.line.buckets > 1 ? { partial: true } : {}),
          };
          const share = shareOf(walk.line, bucket);
          if (share) return { args, share };
          const allowance = walk.line.allowance;
          return allowance
            ? {
                args,
                within: { name: sku, allowance: allowance.limit.max, version: allowance.version ?? 0 },
              }
            : { args };
        });
        for (const walk of asked) walk.touched.push(bucket);
        let answers: BatchReserveResult[];
        try {
          answers = await reserveAt(bucketObject(env, sku, bucket), holds);
        } catch (error) {
          for (const walk of asked) Object.assign(walk, { done: true, failed: error });
          return;
        }
        for (const [i, walk] of asked.entries()) takeAnswer(walk, bucket, answers[i]);
      }),
    );
  }
  return Promise.all(
    carts.map((cart, index) =>
      decideCart(
        env,
        cart,
        walks.filter((w) => w.cart === index),
      ),
    ),
  );
}

/** One hold alone is the plain call (as a checkout alone makes it); more go in one `reserveMany`. */
async function reserveAt(
  object: ReturnType<typeof bucketObject>,
  holds: BatchHold[],
): Promise<BatchReserveResult[]> {
  if (holds.length === 1) {
    const [{ args, within, share }] = holds as [BatchHold];
    if (share) return [await object.reserveShare(args, share)];
    return [
      within
        ? await object.reserveWithin(args, within.name, within.allowance, within.version ?? 0)
        : await object.reserve(args),
    ];
  }
  const answers = await object.reserveMany(holds);
  if (answers.length !== holds.length) throw new Error("inventory object refused the batch of holds");
  return answers;
}

/** What one object's answer means for one line's walk. */
function takeAnswer(walk: LineWalk, bucket: number, answer: BatchReserveResult | undefined) {
  if (!answer || (!answer.ok && (answer.error === "unavailable" || answer.error === "invalid_argument"))) {
    const detail = answer && !answer.ok && "detail" in answer ? answer.detail : "no answer";
    Object.assign(walk, { done: true, failed: new Error(`inventory object failed the hold: ${detail}`) });
    return;
  }
  const available = "available" in answer ? answer.available : 0;
  if (walk.line.buckets === 1) {
    walk.done = true;
    if (!answer.ok) {
      walk.short = true;
      walk.availableElsewhere = available;
      return;
    }
    walk.held.push({ bucket, quantity: answer.quantity });
    walk.remaining = 0;
    walk.expiresAt = answer.expiresAt;
    return;
  }
  walk.availableElsewhere += available;
  if (!answer.ok && answer.error === "not_ready") walk.notReady = true;
  if (answer.ok && answer.quantity > 0) {
    walk.held.push({ bucket, quantity: answer.quantity });
    walk.remaining -= answer.quantity;
    if (answer.expiresAt < walk.expiresAt) walk.expiresAt = answer.expiresAt;
  }
  walk.step++;
  if (walk.remaining <= 0) walk.done = true;
  else if (walk.step >= walk.line.buckets && walk.notReady)
    Object.assign(walk, { done: true, failed: new CapChanging(walk.line.sku) });
  else if (walk.step >= walk.line.buckets) Object.assign(walk, { done: true, short: true });
}

/** A cart's reservation from its lines' walks; a failed one gives back all it touched, as holdCart does. */
async function decideCart(env: Env, cart: CartRequest, walks: LineWalk[]): Promise<CartReservation> {
  const failed = walks.find((walk) => walk.failed !== undefined);
  if (!failed && walks.every((walk) => !walk.short)) {
    const holds = walks.map(({ line, held, expiresAt }): SkuHold => {
      const quantity = held.reduce((sum, { quantity: q }) => sum + q, 0);
      return {
        sku: line.sku,
        quantity,
        expiresAt,
        buckets: held,
        ...marksOf(line),
      };
    });
    const expiresAt =
      holds.map((hold) => hold.expiresAt).sort()[0] ?? new Date(cart.expiresAtMs).toISOString();
    return { ok: true, holds, expiresAt };
  }
  const touchedLines = walks.map(({ line, touched, failed: why }) => ({
    sku: line.sku,
    buckets: why === undefined ? touched : everyBucket(line.buckets),
  }));
  const leftovers = !(await releaseBuckets(env, cart.orderId, touchedLines));
  if (failed) return { ok: false, unavailable: true, cause: failed.failed, leftovers };
  const short: ShortSku[] = [];
  const overAllowance: OverAllowance[] = [];
  for (const walk of walks) {
    if (!walk.short) continue;
    const got = walk.line.quantity - walk.remaining;
    const outcome = {
      ...requested(walk.line),
      available: walk.line.buckets === 1 ? walk.availableElsewhere : got + walk.availableElsewhere,
    };
    if (walk.line.allowance) {
      overAllowance.push({
        line: { ...walk.line, allowance: walk.line.allowance },
        available: outcome.available,
      });
    } else short.push(outcome);
  }
  return { ok: false, short, overAllowance, leftovers };
}

export const everyBucket = (count: number) => Array.from({ length: count }, (_, bucket) => bucket);

/**
 * Releases whatever `orderId` holds in the given buckets; a bucket that holds nothing answers so.
 * `closing`: the order id is done with for good, so no hold is taken for it there again.
 */
export async function releaseBuckets(
  env: Env,
  orderId: string,
  lines: { sku: string; buckets: number[] }[],
  closing = false,
) {
  const results = await Promise.allSettled(
    lines.flatMap(({ sku, buckets }) =>
      buckets.map((bucket) => bucketObject(env, sku, bucket).release(orderId, closing)),
    ),
  );
  return results.every((result) => result.status === "fulfilled");
}

export type OrderHolds = { orderId: string; holds: SkuHold[] };
export type HoldOutcome = {
  sku: string;
  bucket: number;
  quantity: number;
  result: SettleResult | { ok: false; error: "unreachable" };
};

/**
 * A hold that is pinned, or already committed for this very order (a commit that landed, whose
 * decision was lost): either way its units cannot go to anyone else.
 */
export const holdKept = ({ result }: HoldOutcome) => result.ok || result.error === "committed";

/**
 * One batched call per inventory object for the holds of many orders (a queue batch's worth),
 * answered per order with what each of its buckets said. An object that cannot be reached answers
 * `unreachable` for its orders, so one failing object never hides the others' answers.
 */
async function perObject(
  env: Env,
  orders: OrderHolds[],
  call: (stub: ReturnType<typeof bucketObject>, orderIds: string[]) => Promise<Record<string, SettleResult>>,
): Promise<Map<string, HoldOutcome[]>> {
  const byObject = new Map<string, { sku: string; bucket: number; orderIds: string[] }>();
  for (const { orderId, holds } of orders) {
    for (const { sku, buckets } of holds) {
      for (const { bucket } of buckets) {
        const name = bucketName(sku, bucket);
        const group = byObject.get(name) ?? { sku, bucket, orderIds: [] };
        group.orderIds.push(orderId);
        byObject.set(name, group);
      }
    }
  }
  const answers = new Map<string, Record<string, SettleResult> | null>();
  await Promise.all(
    [...byObject].map(async ([name, { sku, bucket, orderIds }]) => {
      answers.set(name, await call(bucketObject(env, sku, bucket), orderIds).catch(() => null));
    }),
  );
  return new Map(
    orders.map(({ orderId, holds }) => [
      orderId,
      holds.flatMap(({ sku, buckets }) =>
        buckets.map(({ bucket, quantity }) => {
          const result = answers.get(bucketName(sku, bucket))?.[orderId];
          return {
            sku,
            bucket,
            quantity,
            result: result
              ? assertValidArguments(result)
              : { ok: false as const, error: "unreachable" as const },
          };
        }),
      ),
    ]),
  );
}

/** Commits (sells) or releases the holds of many orders, one call per inventory object. */
export function settleOrders(env: Env, orders: OrderHolds[], to: "committed" | "released", closing = false) {
  return perObject(env, orders, async (stub, orderIds) => stub.settleMany(orderIds, to, closing));
}

/**
 * Gives back the units of holds committed for orders that did not end paid (see SkuInventory.unsell),
 * one call per inventory object.
 */
export function unsellOrders(env: Env, orders: OrderHolds[]) {
  return perObject(env, orders, async (stub, orderIds) => stub.unsell(orderIds));
}

/** Pins the holds of many orders (no expiry until a decision), one call per inventory object. */
export function pinOrders(env: Env, orders: OrderHolds[]) {
  return perObject(env, orders, async (stub, orderIds) => stub.pin(orderIds));
}

/** A share of refunded units to put back in one bucket, once under its key. */
export type ReturnShare = { key: string; orderId: string; sku: string; bucket: number; quantity: number };

/**
 * What a share's return came to: put back; `not_sold` (the object knows no sale of it to the order: a
 * hold that lapsed, or a sale older than its retention); `refused` (a share it cannot take: malformed,
 * a key reused for another quantity, more than was sold); or no answer.
 */
export type RestockAnswer = "done" | "not_sold" | "refused" | "unreachable";

/**
 * Puts refunded units back in the buckets that sold them (see SkuInventory.restock), one call per
 * inventory object; answered per key: `done` (now or before), `refused` for good, or `unreachable`.
 */
export async function restockShares(env: Env, shares: ReturnShare[]): Promise<Map<string, RestockAnswer>> {
  const byObject = new Map<string, { sku: string; bucket: number; shares: ReturnShare[] }>();
  for (const share of shares) {
    const name = bucketName(share.sku, share.bucket);
    const group = byObject.get(name) ?? { sku: share.sku, bucket: share.bucket, shares: [] };
    group.shares.push(share);
    byObject.set(name, group);
  }
  const answers = new Map<string, RestockAnswer>();
  await Promise.all(
    [...byObject.values()].map(async (group) => {
      const results = await bucketObject(env, group.sku, group.bucket)
        .restock(group.shares.map(({ key, orderId, quantity }) => ({ key, orderId, quantity })))
        .catch(() => null);
      for (const share of group.shares) {
        const result = results?.[share.key];
        answers.set(
          share.key,
          !result ? "unreachable" : result.ok ? "done" : result.error === "not_sold" ? "not_sold" : "refused",
        );
      }
    }),
  );
  return answers;
}
