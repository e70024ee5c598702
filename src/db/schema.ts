import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const products = sqliteTable(
  "products",
  {
    id: text("id").primaryKey(),
    slug: text("slug").notNull().unique(),
    title: text("title").notNull(),
    description: text("description").notNull().default(""),
    category: text("category").notNull(),
    images: text("images", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    status: text("status", { enum: ["active", "archived"] })
      .notNull()
      .default("active"),
    /** A drop's rules for the whole product (its variants may set their own). */
    saleStartsAt: text("sale_starts_at"),
    maxPerOrder: integer("max_per_order"),
    maxPerCustomer: integer("max_per_customer"),
    waitingRoom: text("waiting_room", { mode: "json" }).$type<{
      admitPerMinute: number;
      prequeueSeconds?: number;
    }>(),
    /** Sold by draw: the draw's public settings and the commitment to its seed (see draws/draws.ts). */
    draw: text("draw", { mode: "json" }).$type<{
      opensAt: string;
      closesAt: string;
      units: Record<string, number>;
      beacon?: { chain: string; round: number };
      commitment: string;
      cancelledAt?: string;
    }>(),
    /** False for what does not ship (a ticket, a download): checkout needs no address for it. */
    requiresShipping: integer("requires_shipping", { mode: "boolean" }).notNull().default(true),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (table) => [
    index("products_status_id").on(table.status, table.id),
    index("products_status_category_id").on(table.status, table.category, table.id),
  ],
);

export const variants = sqliteTable(
  "variants",
  {
    sku: text("sku").primaryKey(),
    productId: text("product_id")
      .notNull()
      .references(() => products.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
    title: text("title").notNull(),
    priceAmount: integer("price_amount").notNull(),
    currency: text("currency").notNull(),
    attributes: text("attributes", { mode: "json" })
      .$type<Record<string, string>>()
      .notNull()
      .default(sql`'{}'`),
    saleStartsAt: text("sale_starts_at"),
    maxPerOrder: integer("max_per_order"),
    maxPerCustomer: integer("max_per_customer"),
  },
  (table) => [index("variants_product_position").on(table.productId, table.position)],
);

export type ProductRow = typeof products.$inferSelect;
export type VariantRow = typeof variants.$inferSelect;

export const ORDER_STATUSES = ["pending_payment", "paid", "payment_failed", "cancelled"] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
/**
 * `not_charged`: the order was cancelled before any charge; `failed`: the payment itself failed;
 * `requires_action`: the buyer must authenticate (3-D Secure); `processing`: the gateway has the
 * payment and settles it later.
 */
export const PAYMENT_STATUSES = [
  "pending",
  "requires_action",
  "processing",
  "succeeded",
  "failed",
  "not_charged",
  "refunded",
] as const;

/**
 * Orders as D1 shows them: a projection of the order shards (orders/order-shard.do.ts), which are the
 * system of record. Each shard writes its changed orders here in batches; nothing else writes them.
 */
export const orders = sqliteTable(
  "orders",
  {
    id: text("id").primaryKey(),
    status: text("status", { enum: ORDER_STATUSES }).notNull().default("pending_payment"),
    /** SHA-256 of the order token; the token itself is only ever in the checkout response. */
    tokenHash: text("token_hash").notNull(),
    email: text("email").notNull(),
    name: text("name"),
    shippingAddress: text("shipping_address", { mode: "json" }).$type<Record<string, string>>(),
    currency: text("currency").notNull(),
    totalAmount: integer("total_amount").notNull(),
    /** What the gateway charges: the simulator's token, or a Stripe PaymentMethod id. */
    paymentToken: text("payment_token").notNull(),
    paymentStatus: text("payment_status", { enum: PAYMENT_STATUSES }).notNull().default("pending"),
    paymentAttempts: integer("payment_attempts").notNull().default(0),
    chargeId: text("charge_id"),
    /** Minor units refunded so far, as the gateway reports them. */
    refundedAmount: integer("refunded_amount").notNull().default(0),
    /** A dispute (chargeback) on the charge, as the gateway last told it. */
    dispute: text("dispute", { mode: "json" }).$type<{
      id: string;
      status: string;
      reason: string;
      amount: { amount: number; currency: string };
    }>(),
    /** Where the order's units are held, per SKU and bucket, so payment can commit or release them. */
    holds: text("holds", { mode: "json" })
      .$type<
        {
          sku: string;
          quantity: number;
          expiresAt: string;
          buckets: { bucket: number; quantity: number }[];
        }[]
      >()
      .notNull(),
    holdExpiresAt: text("hold_expires_at").notNull(),
    stockCommitted: integer("stock_committed", { mode: "boolean" }).notNull().default(false),
    /** Why a payment_failed or cancelled order ended so. */
    failureReason: text("failure_reason"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    /** The shard's version of the order this row shows; only a newer one replaces it. */
    version: integer("version").notNull().default(0),
    fulfillmentStatus: text("fulfillment_status", {
      enum: ["unfulfilled", "partially_fulfilled", "fulfilled"],
    })
      .notNull()
      .default("unfulfilled"),
    /** The order as the API shows it (refunds, fulfilments, totals), as the shard last wrote it. */
    view: text("view", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (table) => [
    index("orders_status_id").on(table.status, table.id),
    // The warehouse export and the admin's search: paid and unshipped since a time; by email.
    index("orders_fulfillment_created").on(table.status, table.fulfillmentStatus, table.createdAt),
    index("orders_email_id").on(table.email, table.id),
    index("orders_created").on(table.createdAt),
    // The ops page counts payments waiting for buyers, refunds and disputes every few seconds.
    index("orders_payment_status").on(table.paymentStatus),
    index("orders_disputed").on(table.id).where(sql`${table.dispute} IS NOT NULL`),
  ],
);

export const orderItems = sqliteTable(
  "order_items",
  {
    orderId: text("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    sku: text("sku").notNull(),
    productId: text("product_id").notNull(),
    title: text("title").notNull(),
    quantity: integer("quantity").notNull(),
    unitAmount: integer("unit_amount").notNull(),
    currency: text("currency").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.orderId, table.sku] }),
    index("order_items_sku_order").on(table.sku, table.orderId),
  ],
);

export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = typeof orderItems.$inferSelect;

/**
 * The shop's pricing settings (tax rates, shipping zones): one row (id 1), its version bumped by every
 * change and never reset, so a write made against an older version is refused rather than lost.
 */
export const pricingSettings = sqliteTable("pricing_settings", {
  id: integer("id").primaryKey(),
  body: text("body").notNull(),
  version: integer("version").notNull(),
  updatedAt: text("updated_at").notNull(),
});

/**
 * Discount codes, by their code in capitals (codes are case-insensitive). `body` is the definition as
 * checkout reads it (see pricing/discounts.ts); what it was used for is counted where its uses are
 * held, not here.
 */
export const discounts = sqliteTable(
  "discounts",
  {
    code: text("code").primaryKey(),
    body: text("body").notNull(),
    status: text("status", { enum: ["active", "disabled"] })
      .notNull()
      .default("active"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    // A split cap's change whose push to the buckets has not completed: its version (maxUsesChangedAt),
    // cleared when the push is done. The scheduled job completes what is left (discounts.storage.ts).
    capPending: text("cap_pending"),
  },
  (table) => [
    index("discounts_updated").on(table.updatedAt),
    index("discounts_cap_pending").on(table.capPending).where(sql`${table.capPending} IS NOT NULL`),
  ],
);
