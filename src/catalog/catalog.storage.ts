import { and, asc, eq, gt, gte, inArray, lte, ne, or, sql } from "drizzle-orm";
import { type Database, statement } from "../db/client";
import { type ProductRow, products, type VariantRow, variants } from "../db/schema";
import type { Product, ProductInput } from "./catalog.schemas";

function toProduct(row: ProductRow, rows: VariantRow[]): Product {
  return {
    id: row.id,
    slug: row.slug,
    title: row.title,
    description: row.description,
    category: row.category,
    images: row.images,
    variants: rows
      .sort((a, b) => a.position - b.position)
      .map((variant) => ({
        sku: variant.sku,
        title: variant.title,
        price: { amount: variant.priceAmount, currency: variant.currency },
        attributes: variant.attributes,
        ...dropRulesOf(variant),
      })),
    ...dropRulesOf(row),
    requiresShipping: row.requiresShipping,
    ...(row.waitingRoom ? { waitingRoom: row.waitingRoom } : {}),
    ...(row.draw ? { draw: row.draw } : {}),
    updatedAt: row.updatedAt,
  };
}

function dropRulesOf(row: {
  saleStartsAt: string | null;
  maxPerOrder: number | null;
  maxPerCustomer: number | null;
}) {
  return {
    ...(row.saleStartsAt ? { saleStartsAt: row.saleStartsAt } : {}),
    ...(row.maxPerOrder ? { maxPerOrder: row.maxPerOrder } : {}),
    ...(row.maxPerCustomer ? { maxPerCustomer: row.maxPerCustomer } : {}),
  };
}

/**
 * Loads the variants of a page of products with one query. The page is contiguous in id order, so an
 * id range (two bound parameters, whatever the page size) covers it; rows of products outside the page
 * are dropped here.
 */
async function withVariants(db: Database, rows: ProductRow[]): Promise<Product[]> {
  const first = rows[0];
  const last = rows.at(-1);
  if (!first || !last) return [];
  const variantRows = await db
    .select()
    .from(variants)
    .where(and(gte(variants.productId, first.id), lte(variants.productId, last.id)));
  const byProduct = Map.groupBy(variantRows, (variant) => variant.productId);
  return rows.map((row) => toProduct(row, byProduct.get(row.id) ?? []));
}

export async function findActiveProduct(db: Database, idOrSlug: string): Promise<Product | null> {
  const [row] = await db
    .select()
    .from(products)
    .where(and(eq(products.status, "active"), or(eq(products.id, idOrSlug), eq(products.slug, idOrSlug))))
    .limit(1);
  if (!row) return null;
  const [product] = await withVariants(db, [row]);
  return product ?? null;
}

export async function listActiveProducts(
  db: Database,
  options: { limit: number; afterId?: string; category?: string },
): Promise<{ items: Product[]; lastId: string | null; hasMore: boolean }> {
  const rows = await db
    .select()
    .from(products)
    .where(
      and(
        eq(products.status, "active"),
        options.category ? eq(products.category, options.category) : undefined,
        options.afterId ? gt(products.id, options.afterId) : undefined,
      ),
    )
    .orderBy(asc(products.id))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  return {
    items: await withVariants(db, page),
    lastId: page.at(-1)?.id ?? null,
    hasMore: rows.length > options.limit,
  };
}

/** D1 binds at most 100 parameters per statement; a variant row takes 10, the guard one more. */
const VARIANTS_PER_STATEMENT = 9;

/**
 * Inserts the variants only while the product is active, so that a batch racing an archive writes
 * nothing. Split into statements that stay under D1's bound-parameter limit.
 */
function insertVariants(db: Database, productId: string, input: ProductInput) {
  const statements: D1PreparedStatement[] = [];
  for (let start = 0; start < input.variants.length; start += VARIANTS_PER_STATEMENT) {
    const chunk = input.variants.slice(start, start + VARIANTS_PER_STATEMENT);
    const values = sql.join(
      chunk.map(
        (variant, offset) =>
          sql`(${variant.sku}, ${productId}, ${start + offset}, ${variant.title}, ${variant.price.amount}, ${variant.price.currency}, ${JSON.stringify(variant.attributes)}, ${variant.saleStartsAt ?? null}, ${variant.maxPerOrder ?? null}, ${variant.maxPerCustomer ?? null})`,
      ),
      sql`, `,
    );
    statements.push(
      statement(
        db.$client,
        sql`INSERT INTO variants (sku, product_id, position, title, price_amount, currency, attributes,
            sale_starts_at, max_per_order, max_per_customer)
          SELECT * FROM (VALUES ${values})
          WHERE EXISTS (SELECT 1 FROM products WHERE id = ${productId} AND status = 'active')`,
      ),
    );
  }
  return statements;
}

export async function insertProduct(db: Database, id: string, input: ProductInput, now: string) {
  await db.$client.batch([
    statement(
      db.$client,
      db.insert(products).values({
        id,
        slug: input.slug,
        title: input.title,
        description: input.description,
        category: input.category,
        images: input.images,
        saleStartsAt: input.saleStartsAt ?? null,
        maxPerOrder: input.maxPerOrder ?? null,
        maxPerCustomer: input.maxPerCustomer ?? null,
        waitingRoom: input.waitingRoom ?? null,
        requiresShipping: input.requiresShipping,
        createdAt: now,
        updatedAt: now,
      }),
    ),
    ...insertVariants(db, id, input),
  ]);
}

/** The current slug of an active product, so that its old cache entries can be dropped. */
export async function activeSlug(db: Database, id: string): Promise<string | null> {
  const [row] = await db
    .select({ slug: products.slug })
    .from(products)
    .where(and(eq(products.id, id), eq(products.status, "active")));
  return row?.slug ?? null;
}

/**
 * Replaces a product and its variants in one D1 transaction. Every statement is conditioned on the
 * product being active, so a missing or archived product leaves every table untouched (answers false).
 */
export async function replaceProduct(
  db: Database,
  id: string,
  input: ProductInput,
  now: string,
): Promise<{ draw: ProductRow["draw"] } | false> {
  const [updated] = await db.$client.batch([
    statement(
      db.$client,
      db
        .update(products)
        .set({
          slug: input.slug,
          title: input.title,
          description: input.description,
          category: input.category,
          images: input.images,
          saleStartsAt: input.saleStartsAt ?? null,
          maxPerOrder: input.maxPerOrder ?? null,
          maxPerCustomer: input.maxPerCustomer ?? null,
          waitingRoom: input.waitingRoom ?? null,
          requiresShipping: input.requiresShipping,
          updatedAt: now,
        })
        .where(and(eq(products.id, id), eq(products.status, "active")))
        .returning({ id: products.id, draw: products.draw }),
    ),
    statement(
      db.$client,
      sql`DELETE FROM variants WHERE product_id = ${id}
        AND EXISTS (SELECT 1 FROM products WHERE id = ${id} AND status = 'active')`,
    ),
    ...insertVariants(db, id, input),
  ]);
  const row = updated?.results[0] as { draw: string | null } | undefined;
  if (!row) return false;
  return { draw: row.draw ? (JSON.parse(row.draw) as NonNullable<ProductRow["draw"]>) : null };
}

/**
 * Sets (or, with null, removes) an active product's draw; false for no such product. A draw the
 * catalog shows as cancelled stays so: a setup's publication that lands after the cancel's (the two
 * race from different requests) must not show the draw open again.
 */
export async function writeDraw(db: Database, id: string, draw: ProductRow["draw"], now: string) {
  const rows = await db
    .update(products)
    .set({
      draw: sql`CASE WHEN json_extract(${products.draw}, '$.cancelledAt') IS NOT NULL THEN ${products.draw} ELSE ${draw === null ? null : JSON.stringify(draw)} END`,
      updatedAt: now,
    })
    .where(and(eq(products.id, id), eq(products.status, "active")))
    .returning({ id: products.id });
  return rows.length > 0;
}

/**
 * Shows an active product's draw as cancelled at `cancelledAt` (the draw's settings as the catalog
 * has them, or `draw` should its publication never have landed); false for no such product, or one
 * whose draw is another (its commitment differs: a cancel never lands on a newer draw). The same call
 * again writes the same.
 */
export async function writeDrawCancelled(
  db: Database,
  id: string,
  draw: NonNullable<ProductRow["draw"]>,
  cancelledAt: string,
  now: string,
) {
  const rows = await db
    .update(products)
    .set({
      draw: sql`json_set(COALESCE(${products.draw}, ${JSON.stringify(draw)}), '$.cancelledAt', ${cancelledAt})`,
      updatedAt: now,
    })
    .where(
      and(
        eq(products.id, id),
        eq(products.status, "active"),
        sql`(${products.draw} IS NULL OR json_extract(${products.draw}, '$.commitment') = ${draw.commitment})`,
      ),
    )
    .returning({ id: products.id });
  return rows.length > 0;
}

export async function archiveProduct(db: Database, id: string, now: string): Promise<string | null> {
  const [row] = await db
    .update(products)
    .set({ status: "archived", updatedAt: now })
    .where(and(eq(products.id, id), eq(products.status, "active")))
    .returning({ slug: products.slug });
  return row?.slug ?? null;
}

/** Products written since a moment, archived ones included, oldest first. */
export async function productsChangedSince(db: Database, since: string, limit: number) {
  const rows = await db
    .select()
    .from(products)
    .where(gte(products.updatedAt, since))
    .orderBy(asc(products.updatedAt))
    .limit(limit);
  const active = rows.filter((row) => row.status === "active");
  const byProduct = new Map<string, VariantRow[]>();
  for (const row of active) {
    byProduct.set(row.id, await db.select().from(variants).where(eq(variants.productId, row.id)));
  }
  return rows.map((row) => ({
    id: row.id,
    slug: row.slug,
    product: row.status === "active" ? toProduct(row, byProduct.get(row.id) ?? []) : null,
  }));
}

/** The product a SKU belongs to, archived or not (the caller checks the product is active). */
export async function skuProductId(db: Database, sku: string): Promise<string | null> {
  const [row] = await db
    .select({ productId: variants.productId })
    .from(variants)
    .where(eq(variants.sku, sku));
  return row?.productId ?? null;
}

/** Which of `skus` belong to a product other than `productId` (any, for a new product), with its slug. */
export async function skusOfOtherProducts(
  db: Database,
  skus: string[],
  productId: string | null,
): Promise<{ sku: string; slug: string }[]> {
  if (skus.length === 0) return [];
  return db
    .select({ sku: variants.sku, slug: products.slug })
    .from(variants)
    .innerJoin(products, eq(products.id, variants.productId))
    .where(
      and(inArray(variants.sku, skus), productId === null ? undefined : ne(variants.productId, productId)),
    )
    .orderBy(asc(variants.sku));
}
