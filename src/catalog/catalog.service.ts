import { z } from "@hono/zod-openapi";
import { type Database, database, isUniqueViolation } from "../db/client";
import type { CacheLayer } from "../http/request-log";
import { background, type Scope } from "../http/scope";
import { settings } from "../shared/config";
import { decodeCursor, encodeCursor } from "../shared/cursor";
import { EdgeMemo } from "../shared/edge-memo";
import { AppError } from "../shared/errors";
import { ulid } from "../shared/ids";
import { logEvent } from "../shared/log";
import { type CachedBody, EdgeLayers, etagOf } from "./catalog.cache";
import { forgetHeldReads, hold, readEpoch, recallOrRefresh } from "./catalog.memory";
import type { ListQuery, Product, ProductInput, ProductPage } from "./catalog.schemas";
import {
  activeSlug,
  archiveProduct,
  findActiveProduct,
  insertProduct,
  listActiveProducts,
  productsChangedSince,
  replaceProduct,
  skuProductId,
  skusOfOtherProducts,
  writeDraw,
  writeDrawCancelled,
} from "./catalog.storage";

export type CatalogRead = { entry: CachedBody; layer: CacheLayer };

/** A KV list page or product is kept this long as a last good copy for when D1 fails. */
const KV_RETENTION_SECONDS = 7 * 24 * 3600;
const GENERATION_KEY = "catalog:generation";

function layers(ctx: Scope) {
  return new EdgeLayers({
    kv: ctx.env.CATALOG,
    origin: ctx.origin,
    edgeTtlSeconds: settings(ctx.env).catalogEdgeTtlSeconds,
  });
}

function kvFreshMs(env: Env) {
  return settings(env).catalogKvFreshSeconds * 1000;
}

async function entryFor(value: unknown): Promise<CachedBody> {
  const body = JSON.stringify(value);
  return { body, etag: await etagOf(body), storedAt: Date.now() };
}

export const productKey = (idOrSlug: string) => `product:${idOrSlug}`;

/** Answers from this isolate's memory when it read `key` moments ago; otherwise reads and holds. */
async function heldOr(
  ctx: Scope,
  key: string,
  read: () => Promise<CatalogRead | null>,
): Promise<CatalogRead | null> {
  const ttlMs = settings(ctx.env).catalogMemoryTtlMs;
  if (ttlMs === 0) return read();
  const now = Date.now();
  const held = recallOrRefresh(key, now);
  if (held !== undefined) return held && { entry: held, layer: "memory" };
  const since = readEpoch();
  const fresh = await read();
  hold(key, fresh?.entry ?? null, ttlMs, since, now);
  return fresh;
}

/**
 * Read-through: isolate memory, Cache API, KV, then D1. A KV copy older than the freshness window is
 * revalidated against D1, and served anyway (stale-if-error) when D1 fails.
 */
export function readProduct(ctx: Scope, idOrSlug: string): Promise<CatalogRead | null> {
  const key = productKey(idOrSlug);
  return heldOr(ctx, key, () => readProductThroughEdge(ctx, key, idOrSlug));
}

async function readProductThroughEdge(
  ctx: Scope,
  key: string,
  idOrSlug: string,
): Promise<CatalogRead | null> {
  const edge = layers(ctx);
  const cached = await edge.cacheGet(key);
  if (cached) return "missing" in cached ? null : { entry: cached, layer: "cache" };

  const stored = await edge.kvGet(key).catch(() => null);
  if (stored && Date.now() - stored.storedAt < kvFreshMs(ctx.env)) {
    background(ctx, "catalog cache fill", edge.cachePut(key, stored));
    return { entry: stored, layer: "kv" };
  }

  let product: Product | null;
  try {
    product = await findActiveProduct(database(ctx.env.DB), idOrSlug);
  } catch (error) {
    if (stored) return { entry: stored, layer: "stale" };
    throw new AppError("service_unavailable", { detail: "The catalog is unavailable", cause: error });
  }
  if (!product) {
    background(ctx, "catalog negative cache fill", edge.cachePut(key, { missing: true }));
    if (stored) background(ctx, "catalog kv cleanup", edge.kvDelete(key));
    return null;
  }
  const entry = await entryFor(product);
  background(ctx, "catalog fill", publishProduct(edge, product, entry, [idOrSlug]));
  return { entry, layer: "d1" };
}

/**
 * Writes a product's entry under its id and slug in both layers (and under any alias it was read by),
 * and which product each of its SKUs belongs to, so checkout can price a SKU while D1 is down.
 */
async function publishProduct(edge: EdgeLayers, product: Product, entry: CachedBody, aliases: string[] = []) {
  const keys = new Set([product.id, product.slug, ...aliases].map(productKey));
  await Promise.all([
    ...[...keys].flatMap((key) => [edge.cachePut(key, entry), edge.kvPut(key, entry, KV_RETENTION_SECONDS)]),
    ...product.variants.map((variant) => edge.kvPut(skuKey(variant.sku), product.id, KV_RETENTION_SECONDS)),
  ]);
}

const skuKey = (sku: string) => `sku-product:${sku}`;

const Cursor = z.object({ after: z.string().min(1).max(100) }).strict();

/**
 * The catalog generation changes on every write. List pages are cached under it, so one write makes
 * every cached page at this location unreachable without enumerating them. Other locations see the
 * new generation when their Cache API copy of it expires and KV has propagated.
 */
async function generation(ctx: Scope, edge: EdgeLayers): Promise<string> {
  const cached = await edge.cacheGet(GENERATION_KEY);
  if (cached && !("missing" in cached)) return cached.body;
  const stored = await ctx.env.CATALOG.get(GENERATION_KEY).catch(() => null);
  const value = stored ?? "0";
  background(
    ctx,
    "generation fill",
    edge.cachePut(GENERATION_KEY, { body: value, etag: "", storedAt: Date.now() }),
  );
  return value;
}

type ListEntry = CachedBody & { generation: string };

export async function readProductPage(ctx: Scope, query: ListQuery): Promise<CatalogRead> {
  const afterId = query.cursor ? decodeCursor(query.cursor, Cursor).after : undefined;
  const canonical = `list:${query.category ?? "*"}:${query.limit}:${afterId ?? ""}`;
  const read = await heldOr(ctx, canonical, () => readPageThroughEdge(ctx, query, canonical, afterId));
  // A page always exists (perhaps empty), so nothing is ever held as missing under a list key.
  return read as CatalogRead;
}

async function readPageThroughEdge(
  ctx: Scope,
  query: ListQuery,
  canonical: string,
  afterId: string | undefined,
): Promise<CatalogRead> {
  const edge = layers(ctx);
  const gen = await generation(ctx, edge);
  const cacheKey = `${canonical}@${gen}`;

  const cached = await edge.cacheGet(cacheKey);
  if (cached && !("missing" in cached)) return { entry: cached, layer: "cache" };

  const stored = await edge.kvGet<ListEntry>(canonical).catch(() => null);
  if (stored && stored.generation === gen && Date.now() - stored.storedAt < kvFreshMs(ctx.env)) {
    background(ctx, "catalog cache fill", edge.cachePut(cacheKey, stored));
    return { entry: stored, layer: "kv" };
  }

  let page: Awaited<ReturnType<typeof listActiveProducts>>;
  try {
    page = await listActiveProducts(database(ctx.env.DB), {
      limit: query.limit,
      afterId,
      category: query.category,
    });
  } catch (error) {
    if (stored) return { entry: stored, layer: "stale" };
    throw new AppError("service_unavailable", { detail: "The catalog is unavailable", cause: error });
  }
  const body: ProductPage = {
    items: page.items,
    nextCursor: page.hasMore && page.lastId ? encodeCursor({ after: page.lastId }) : null,
  };
  const entry = await entryFor(body);
  background(
    ctx,
    "fill",
    Promise.all([
      edge.cachePut(cacheKey, entry),
      edge.kvPut(canonical, { ...entry, generation: gen }, KV_RETENTION_SECONDS),
    ]),
  );
  return { entry, layer: "d1" };
}

/**
 * After a write: the new entries go to both layers under the product's keys, the old slug is dropped,
 * and a new generation retires every cached list page. Done before answering, so the next read at
 * this location sees the write. A KV failure here (e.g. its one-write-per-second limit) is logged,
 * not fatal: D1 already holds the truth and KV copies age out within the freshness window.
 */
async function invalidate(ctx: Scope, product: Product | null, dropKeys: string[]) {
  forgetHeldReads();
  const edge = layers(ctx);
  const gen = ulid();
  const tasks: Promise<unknown>[] = [
    edge.cachePut(GENERATION_KEY, { body: gen, etag: "", storedAt: Date.now() }),
    ctx.env.CATALOG.put(GENERATION_KEY, gen),
    ...dropKeys.map(productKey).flatMap((key) => [edge.cacheDelete(key), edge.kvDelete(key)]),
  ];
  if (product) {
    tasks.push(entryFor(product).then((entry) => publishProduct(edge, product, entry)));
    // A SKU remembered as unknown (or as another product's) must be priced from this product now.
    tasks.push(...product.variants.map((variant) => skuMemo(ctx).delete(variant.sku)));
  }
  const results = await Promise.allSettled(tasks);
  // Again once the layers have the new entries: a read that began in between, and found the old
  // copy there, must not be held as this isolate's answer.
  forgetHeldReads();
  for (const result of results) {
    if (result.status === "rejected") {
      logEvent("warn", "catalog invalidation step failed", { error: String(result.reason) });
    }
  }
}

/**
 * The 409 a refused write answers, naming what is taken: the slug, or each SKU with the product that
 * has it (`skus` lists them for a program). The write itself left nothing behind (one batch), so
 * looking the SKUs up afterwards only words the answer; should that read fail, the answer still says
 * sku_taken, without the names.
 */
async function conflictFrom(
  db: Database,
  error: unknown,
  input: ProductInput,
  productId: string | null,
): Promise<AppError | null> {
  if (isUniqueViolation(error, "products.slug")) {
    return new AppError("slug_taken", {
      detail: `Another product already uses the slug "${input.slug}"`,
      extensions: { slug: input.slug },
    });
  }
  if (isUniqueViolation(error, "variants.sku")) {
    const skus = input.variants.map((variant) => variant.sku);
    const taken = await skusOfOtherProducts(db, skus, productId).catch(() => []);
    const named = taken.map(({ sku, slug }) => `SKU "${sku}" belongs to product "${slug}"`).join("; ");
    return new AppError("sku_taken", {
      detail: named || "A SKU in this product already belongs to another product",
      extensions: { skus: taken.map(({ sku }) => sku) },
    });
  }
  return null;
}

export async function createProduct(ctx: Scope, input: ProductInput): Promise<Product> {
  const db = database(ctx.env.DB);
  const id = ulid();
  const now = new Date().toISOString();
  try {
    await insertProduct(db, id, input, now);
  } catch (error) {
    throw (await conflictFrom(db, error, input, null)) ?? error;
  }
  const product: Product = { id, ...input, updatedAt: now };
  await invalidate(ctx, product, []);
  return product;
}

export async function updateProduct(ctx: Scope, id: string, input: ProductInput): Promise<Product> {
  const db = database(ctx.env.DB);
  const previousSlug = await activeSlug(db, id);
  if (previousSlug === null) throw new AppError("product_not_found", { detail: `No product with id ${id}` });
  const now = new Date().toISOString();
  let replaced: Awaited<ReturnType<typeof replaceProduct>>;
  try {
    replaced = await replaceProduct(db, id, input, now);
  } catch (error) {
    throw (await conflictFrom(db, error, input, id)) ?? error;
  }
  if (!replaced) throw new AppError("product_not_found", { detail: `No product with id ${id}` });
  // A product's draw is set on its own (setDraw) and outlives edits of the product.
  const product: Product = {
    id,
    ...input,
    ...(replaced.draw ? { draw: replaced.draw } : {}),
    updatedAt: now,
  };
  await invalidate(ctx, product, previousSlug === input.slug ? [] : [previousSlug]);
  return product;
}

/**
 * Publishes a product's draw (its settings and the commitment to its seed), or removes it with null;
 * answers the product as the catalog now shows it.
 */
export async function setDraw(ctx: Scope, id: string, draw: Product["draw"] | null): Promise<Product> {
  const db = database(ctx.env.DB);
  const now = new Date().toISOString();
  if (!(await writeDraw(db, id, draw ?? null, now))) {
    throw new AppError("product_not_found", { detail: `No product with id ${id}` });
  }
  const product = await findActiveProduct(db, id);
  if (!product) throw new AppError("product_not_found", { detail: `No product with id ${id}` });
  await invalidate(ctx, product, []);
  return product;
}

/**
 * Shows a product's draw as cancelled (see writeDrawCancelled), through the same invalidation as any
 * write; answers false when the product is gone (archived: nothing left to show).
 */
export async function setDrawCancelled(
  ctx: Scope,
  id: string,
  draw: NonNullable<Product["draw"]>,
  cancelledAt: string,
): Promise<boolean> {
  const db = database(ctx.env.DB);
  if (!(await writeDrawCancelled(db, id, draw, cancelledAt, new Date().toISOString()))) return false;
  const product = await findActiveProduct(db, id);
  if (!product) return false;
  await invalidate(ctx, product, []);
  return true;
}

export async function archive(ctx: Scope, id: string): Promise<void> {
  const slug = await archiveProduct(database(ctx.env.DB), id, new Date().toISOString());
  if (slug === null) throw new AppError("product_not_found", { detail: `No product with id ${id}` });
  await invalidate(ctx, null, [id, slug]);
}

/**
 * The scheduled safety net for write-through: copies every product changed since `since` from D1 to
 * KV again, so a KV write that failed during an admin write is healed within one cron period.
 */
export async function republishRecentProducts(env: Env, since: Date): Promise<number> {
  const changed = await productsChangedSince(database(env.DB), since.toISOString(), 500);
  for (const { id, slug, product } of changed) {
    const keys = [productKey(id), productKey(slug)];
    if (product) {
      const entry = JSON.stringify(await entryFor(product));
      const options = { expirationTtl: KV_RETENTION_SECONDS };
      await Promise.all([
        ...keys.map((key) => env.CATALOG.put(key, entry, options)),
        ...product.variants.map((v) => env.CATALOG.put(skuKey(v.sku), JSON.stringify(product.id), options)),
      ]);
    } else {
      await Promise.all(keys.map((key) => env.CATALOG.delete(key)));
    }
  }
  if (changed.length > 0) await env.CATALOG.put(GENERATION_KEY, ulid());
  return changed.length;
}

/** A SKU as checkout prices it: from the catalog, never from the client. */
export type PricedSku = {
  sku: string;
  productId: string;
  /** The product's category (discount codes may be scoped to categories). */
  category: string;
  title: string;
  price: Product["variants"][number]["price"];
  /** The drop's rules that apply to this SKU: its own start time, else its product's. */
  saleStartsAt: string | null;
  maxPerOrder: number | null;
  productMaxPerOrder: number | null;
  maxPerCustomer: number | null;
  productMaxPerCustomer: number | null;
  /** The product's waiting room, when its drop has one: checkout then needs an admission pass. */
  waitingRoom: DropRoom | null;
  /** Whether the product ships (a cart with one needs a shipping address). */
  requiresShipping: boolean;
};

/**
 * What a drop's waiting room needs to know of its product. `startsAt` is when the line is shuffled
 * and admission begins: the sale's start, or as long after it as the prequeue stays open.
 */
export type DropRoom = {
  productId: string;
  startsAt: number;
  admitPerMinute: number;
  skus: string[];
  /** The product's version, so the room keeps the newest settings whichever isolate reports. */
  version: number;
};

export function dropRoomOf(product: Product): DropRoom | null {
  if (!product.waitingRoom || !product.saleStartsAt) return null;
  return {
    productId: product.id,
    startsAt: Date.parse(product.saleStartsAt) + (product.waitingRoom.prequeueSeconds ?? 0) * 1000,
    admitPerMinute: product.waitingRoom.admitPerMinute,
    skus: product.variants.map((variant) => variant.sku),
    version: Date.parse(product.updatedAt),
  };
}

const SKU_MEMO_TTL_SECONDS = 300;
const UNKNOWN_SKU_TTL_SECONDS = 30;

/**
 * Which product sells a SKU. Only a product id is kept in the isolate's memory: the absence of a SKU
 * is for anyone to invent, so it is remembered at the location (the Cache API) alone.
 */
function skuMemo(scope: Scope) {
  return new EdgeMemo("sku-product", scope.origin, { keep: (productId) => Boolean(productId) });
}

async function variantIn(scope: Scope, productId: string, sku: string): Promise<PricedSku | null> {
  const read = await readProduct(scope, productId);
  if (!read) return null;
  const product: Product = JSON.parse(read.entry.body);
  const variant = product.variants.find((candidate) => candidate.sku === sku);
  if (!variant) return null;
  return {
    sku,
    productId: product.id,
    category: product.category,
    title: `${product.title} (${variant.title})`,
    price: variant.price,
    saleStartsAt: variant.saleStartsAt ?? product.saleStartsAt ?? null,
    // Products cached before the flag existed all ship.
    requiresShipping: product.requiresShipping !== false,
    maxPerOrder: variant.maxPerOrder ?? null,
    productMaxPerOrder: product.maxPerOrder ?? null,
    maxPerCustomer: variant.maxPerCustomer ?? null,
    productMaxPerCustomer: product.maxPerCustomer ?? null,
    waitingRoom: dropRoomOf(product),
  };
}

/**
 * Prices SKUs through the catalog's read path. Which product holds a SKU is remembered at the edge
 * and checked against the (properly invalidated) product itself, so a SKU that moved or vanished is
 * looked up again in D1 rather than priced from a stale copy. Unknown SKUs are left out.
 */
export async function priceSkus(scope: Scope, skus: string[]): Promise<Map<string, PricedSku>> {
  const memo = skuMemo(scope);
  const priced = await Promise.all(
    skus.map(async (sku) => {
      const remembered = await memo.get(sku);
      if (remembered === "") return null;
      const cached = remembered ? await variantIn(scope, remembered, sku) : null;
      if (cached) return cached;
      // KV names the product while D1 is down; D1 is asked when KV does not know or is wrong.
      const published = await scope.env.CATALOG.get<string>(skuKey(sku), "json").catch(() => null);
      const viaKv = published ? await variantIn(scope, published, sku) : null;
      const productId = viaKv ? null : await skuProductId(database(scope.env.DB), sku);
      const found = viaKv ?? (productId ? await variantIn(scope, productId, sku) : null);
      background(
        scope,
        "sku memo",
        found
          ? memo.put(sku, found.productId, SKU_MEMO_TTL_SECONDS)
          : memo.put(sku, "", UNKNOWN_SKU_TTL_SECONDS),
      );
      // A SKU published before KV named products (or whose KV entry expired) is named there now.
      if (found && !viaKv) {
        background(
          scope,
          "sku product in KV",
          scope.env.CATALOG.put(skuKey(sku), JSON.stringify(found.productId), {
            expirationTtl: KV_RETENTION_SECONDS,
          }),
        );
      }
      return found;
    }),
  );
  return new Map(priced.flatMap((entry) => (entry ? [[entry.sku, entry] as const] : [])));
}
