import type { DrawSettings, Product } from "../../catalog/catalog.schemas";
import { readProduct, setDraw } from "../../catalog/catalog.service";
import { DRAW_SHARDS, drawBook } from "../../draws/draws";
import type { EntryState } from "../../draws/entries.store";
import type { Scope } from "../../http/scope";
import { bucketCount } from "../../inventory/inventory.service";
import { AppError } from "../../shared/errors";
import type { DrawStatus } from "./draw-runner.do";

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
  const answer = await drawRunner(scope.env, productId).setUp({
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
  });
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
 * Where a product's draw stands, with its entry books' counts as they are now (the frozen list's
 * count, `entries`, is only known from the close).
 */
export async function drawStatus(env: Env, productId: string): Promise<DrawStatus & { books: BookCounts }> {
  const status = await drawRunner(env, productId).status();
  if (!status) throw new AppError("draw_not_found", { detail: `${productId} has no draw` });
  const books: BookCounts = { pending: 0, entered: 0, withdrawn: 0, void: 0, won: 0, lost: 0 };
  const counts = await Promise.all(
    Array.from({ length: DRAW_SHARDS }, (_, shard) => drawBook(env, productId, shard).counts()),
  );
  for (const { counts: book } of counts) {
    for (const state of Object.keys(books) as (keyof BookCounts)[]) books[state] += book[state];
  }
  return { ...status, books };
}

type BookCounts = Record<EntryState, number>;

/** Cancels a product's draw before its walk (see DrawRunner.cancel); answers its status. */
export async function cancelDraw(env: Env, productId: string): Promise<DrawStatus> {
  const runner = drawRunner(env, productId);
  const cancelled = await runner.cancel("cancelled by the shop");
  if (!cancelled) {
    if (!(await runner.status()))
      throw new AppError("draw_not_found", { detail: `${productId} has no draw` });
    throw new AppError("draw_not_cancellable", { detail: "Its winners are being charged, or it is drawn" });
  }
  return drawStatus(env, productId);
}
