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
  },
  (table) => [index("variants_product_position").on(table.productId, table.position)],
);

export type ProductRow = typeof products.$inferSelect;
export type VariantRow = typeof variants.$inferSelect;

export const ORDER_STATUSES = ["pending_payment", "paid", "payment_failed", "cancelled"] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

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
    paymentStatus: text("payment_status", { enum: ["pending", "succeeded", "failed", "refunded"] })
      .notNull()
      .default("pending"),
    paymentAttempts: integer("payment_attempts").notNull().default(0),
    chargeId: text("charge_id"),
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
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (table) => [index("orders_status_id").on(table.status, table.id)],
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
  (table) => [primaryKey({ columns: [table.orderId, table.sku] })],
);

/** One row per order whose payment must be queued; the reconciler re-sends rows never marked sent. */
export const paymentOutbox = sqliteTable("payment_outbox", {
  orderId: text("order_id")
    .primaryKey()
    .references(() => orders.id, { onDelete: "cascade" }),
  createdAt: integer("created_at").notNull(),
  sentAt: integer("sent_at"),
  sendAttempts: integer("send_attempts").notNull().default(0),
});

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    /** SHA-256 of the client's key: the key itself is what decrypts the stored response. */
    keyHash: text("key_hash").primaryKey(),
    fingerprint: text("fingerprint").notNull(),
    state: text("state", { enum: ["in_flight", "done"] }).notNull(),
    orderId: text("order_id").notNull(),
    statusCode: integer("status_code"),
    /** AES-GCM ciphertext of the first response (headers and body), keyed from the client's key. */
    response: text("response"),
    lockedUntil: integer("locked_until").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (table) => [index("idempotency_keys_expires_at").on(table.expiresAt)],
);

export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = typeof orderItems.$inferSelect;
