import type { DrawSettings, Product } from "../../catalog/catalog.schemas";
import { readProduct, setDraw, setDrawCancelled } from "../../catalog/catalog.service";
import { DRAW_SHARDS, drawBook, windowOf } from "../../draws/draws";
import type { EntryState, TimelineBucket } from "../../draws/entries.store";
import type { Scope } from "../../http/scope";
import { bucketCount } from "../../inventory/inventory.service";
import { AppError } from "../../shared/errors";
import { logEvent } from "../../shared/log";
import type { DrawStatus } from "./draw-setup";
import { freezeBooks } from "./freeze";

/** A product as the catalog serves it (by id or slug), or null. */
export async function productOf(scope: Scope, idOrSlug: string): Promise<Product | null> {
  const read = await readProduct(scope, idOrSlug);
  return read ? (JSON.parse(read.entry.body) as Product) : null;
}

export const drawRunner = (env: Env, productId: string) => env.DRAWS.getByName(productId);

/**
 * Sets a product up to be sold by draw: the draw's object makes its secret seed and holds its units
 * (all of them, or none: 409 draw_stock_short), then the catalog publishes the settings with the
 * seed's commitment. Repeating the same setup answers the same commitment (a setup whose publication
 * failed is completed by repeating it); another setup of the same product is refused.
 */
export async function setUpDraw(
  scope: Scope,
  productId: string,
  draw: DrawSettings,
): Promise<{ product: Product; status: DrawStatus }> {
  const known = await productOf(scope, productId);
  if (!known || known.id !== productId) {
    throw new AppError("product_not_found", { detail: `No product with id ${productId}` });
  }
  const skus = Object.keys(draw.units);
  const strangers = skus.filter((sku) => !known.variants.some((variant) => variant.sku === sku));
  if (strangers.length > 0) {
    throw new AppError("validation_failed", {
      detail: "Every SKU drawn must be a variant of the product",
      errors: strangers.map((sku) => ({
        path: `units.${sku}`,
        message: "Not a variant of this product",
        in: "body",
      })),
    });
  }
  const buckets = Object.fromEntries(
    await Promise.all(skus.map(async (sku) => [sku, await bucketCount(scope, sku)])),
  );
  const answer = await drawRunner(scope.env, productId).setUp(
    {
      product: productId,
      opensAt: Date.parse(draw.opensAt),
      closesAt: Date.parse(draw.closesAt),
      units: draw.units,
      buckets,
      titles: Object.fromEntries(
        known.variants
          .filter((variant) => skus.includes(variant.sku))
          .map((variant) => [variant.sku, `${known.title} (${variant.title})`]),
      ),
      ...(draw.beacon ? { beacon: draw.beacon } : {}),
    },
    scope.origin,
  );
  if (answer.kind === "exists") {
    throw new AppError("draw_exists", { detail: "This product has a draw set up with other settings" });
  }
  const { status } = answer;
  if (status.phase === "cancelled") {
    throw new AppError("draw_exists", {
      detail: "This product's draw was cancelled; it cannot be set up again",
    });
  }
  if (status.phase === "short") {
    throw new AppError("draw_stock_short", {
      detail: status.detail ?? "Not enough stock to hold for the draw",
    });
  }
  if (status.phase === "pooling") {
    throw new AppError("service_unavailable", {
      detail: "The draw's units are still being held; repeat the same request",
      headers: { "Retry-After": "2" },
    });
  }
  const product = await setDraw(scope, productId, { ...draw, commitment: status.commitment });
  return { product, status };
}

/**
 * Whether a book's failure is its object being unreachable or overloaded (Durable Object errors say
 * `retryable` or `overloaded`, or name themselves): worth asking again shortly. Anything else is a
 * fault that asking again will not mend.
 */
function unreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const flags = error as Error & { retryable?: boolean; overloaded?: boolean };
  return (
    Boolean(flags.retryable || flags.overloaded) ||
    /Durable Object|Network connection lost|overloaded/i.test(error.message)
  );
}

/**
 * The same call to each of the draw's entry books, at once: 503 (Retry-After) should a book be
 * unreachable, the error itself otherwise (the details logged, never answered).
 */
function everyBook<T>(env: Env, productId: string, ask: (book: ReturnType<typeof drawBook>) => Promise<T>) {
  return Promise.all(
    Array.from({ length: DRAW_SHARDS }, (_, shard) => ask(drawBook(env, productId, shard))),
  ).catch((error: unknown) => {
    if (!unreachable(error)) throw error;
    logEvent("warn", "an entry book of a draw did not answer", { productId, error: String(error) });
    throw new AppError("service_unavailable", {
      detail: "An entry book of the draw could not be reached",
      headers: { "Retry-After": "2" },
    });
  });
}

async function statusOf(env: Env, productId: string): Promise<DrawStatus> {
  const status = await drawRunner(env, productId).status();
  if (!status) throw new AppError("draw_not_found", { detail: `${productId} has no draw` });
  return status;
}

/**
 * Where a product's draw stands, with its entry books' counts as they are now (the frozen list's
 * count, `entries`, is only known from the close) and the entrants' authorizations released and
 * still to cancel.
 */
export async function drawStatus(
  env: Env,
  productId: string,
): Promise<DrawStatus & { books: BookCounts; authorizations: { released: number; toCancel: number } }> {
  const status = await statusOf(env, productId);
  const books: BookCounts = { pending: 0, entered: 0, withdrawn: 0, void: 0, won: 0, lost: 0 };
  const authorizations = { released: 0, toCancel: 0 };
  const answers = await everyBook(env, productId, async (book) => book.counts());
  for (const { counts: book, authorizations: auth } of answers) {
    for (const state of Object.keys(books) as (keyof BookCounts)[]) books[state] += book[state];
    authorizations.released += auth.released;
    authorizations.toCancel += auth.toCancel;
  }
  return { ...status, books, authorizations };
}

type BookCounts = Record<EntryState, number>;

/** Bucket sizes the timeline picks from, in seconds: the finest that keeps it to MAX_POINTS. */
const BUCKETS = [60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400];
const MAX_POINTS = 360;
/** The longest window a timeline covers (a draw is open 6 days at most). */
const MAX_SPAN_MS = 31 * 86_400_000;

export type Timeline = {
  from: string;
  to: string;
  bucketSeconds: number;
  entered: number;
  withdrawn: number;
  points: { at: string; entered: number; withdrawn: number }[];
};

/**
 * A draw's entries over time: entries entered and withdrawn per bucket, summed over its books, from
 * `from` (default: the open) to `to` (default: now, within the window). Buckets start on whole
 * multiples of their size, at least `bucketSeconds` (default a minute) and coarser as the window needs
 * to stay within MAX_POINTS; every bucket is answered, empty ones with zeros.
 */
export async function drawTimeline(
  env: Env,
  productId: string,
  query: { from?: string | undefined; to?: string | undefined; bucketSeconds?: number | undefined },
  now = Date.now(),
): Promise<Timeline> {
  const status = await statusOf(env, productId);
  const [opensAt, closesAt] = [Date.parse(status.opensAt), Date.parse(status.closesAt)];
  const from = query.from ? Date.parse(query.from) : opensAt;
  const to = query.to ? Date.parse(query.to) : Math.min(Math.max(now, from + 60_000), closesAt);
  // The parameter to blame is one the client sent: `from` when `to` is the default.
  const refuse = (message: string) =>
    new AppError("validation_failed", {
      detail: message,
      errors: [{ path: query.to ? "to" : "from", message, in: "query" }],
    });
  if (!(from < to)) {
    throw refuse(
      query.to ? "to must come after from" : "from must come before the draw's close (or give to)",
    );
  }
  if (to - from > MAX_SPAN_MS) throw refuse("A timeline covers 31 days at most");
  const least = query.bucketSeconds ?? 60;
  const bucketSeconds =
    BUCKETS.find((size) => size >= least && spanOf(from, to, size * 1000).count <= MAX_POINTS) ?? 86_400;
  const stepMs = bucketSeconds * 1000;
  const { start, count } = spanOf(from, to, stepMs);
  const end = start + count * stepMs;
  const answers = await everyBook(env, productId, (book) => book.timeline(start, end, stepMs));
  const points = Array.from({ length: count }, (_, i) => ({
    at: new Date(start + i * stepMs).toISOString(),
    entered: 0,
    withdrawn: 0,
  }));
  for (const bucket of answers.flat() as TimelineBucket[]) {
    const point = points[Math.round((bucket.at - start) / stepMs)];
    if (!point) {
      logEvent("warn", "an entry book answered a bucket outside the timeline", { productId, at: bucket.at });
      continue;
    }
    point.entered += bucket.entered;
    point.withdrawn += bucket.withdrawn;
  }
  return {
    from: new Date(start).toISOString(),
    to: new Date(end).toISOString(),
    bucketSeconds,
    entered: points.reduce((sum, point) => sum + point.entered, 0),
    withdrawn: points.reduce((sum, point) => sum + point.withdrawn, 0),
    points,
  };
}

/** The whole buckets of `stepMs` covering [from, to): the first's start and how many. */
function spanOf(from: number, to: number, stepMs: number) {
  const start = Math.floor(from / stepMs) * stepMs;
  return { start, count: Math.ceil((to - start) / stepMs) };
}

/**
 * Cancels a product's draw before its walk (see DrawRunner.cancel) and shows it cancelled in the
 * catalog at once (through this request, so its location's caches see it on the next read); answers
 * its status. Should the catalog's write fail (D1 down, the request cut off), the draw's alarm makes
 * it, every few seconds until it lands.
 */
export async function cancelDraw(scope: Scope, productId: string): Promise<DrawStatus> {
  const runner = drawRunner(scope.env, productId);
  const cancelled = await runner.cancel("cancelled by the shop", scope.origin);
  if (!cancelled) {
    if (!(await runner.status()))
      throw new AppError("draw_not_found", { detail: `${productId} has no draw` });
    throw new AppError("draw_not_cancellable", { detail: "Its winners are being charged, or it is drawn" });
  }
  const shown = await runner.cancelledDraw();
  if (shown) {
    // Entries stop now, everywhere: every book frozen before the answer, whatever the catalog's copies
    // still show (a book that does not answer is frozen by the draw's alarm).
    await freezeBooks(scope.env, windowOf(productId, shown.draw), Date.now());
    try {
      await setDrawCancelled(scope, productId, shown.draw, shown.cancelledAt);
      await runner.cancelShown();
    } catch (error) {
      logEvent("warn", "a cancelled draw is shown in the catalog by its alarm instead", {
        productId,
        error: String(error),
      });
    }
  }
  // The cancel took effect: a book that cannot be counted leaves its figures out of the answer (the
  // status route gives them) rather than answer a failure for it.
  return drawStatus(scope.env, productId).catch((error: unknown) => {
    logEvent("warn", "a cancelled draw is answered without its books' counts", {
      productId,
      error: String(error),
    });
    return statusOf(scope.env, productId);
  });
}
