import { z } from "zod";
import { CartPricingRecord } from "../../pricing/cart-pricing.schemas";
import { Money } from "../../shared/money";

const Id = z.string().min(1).max(64);

const Item = z.object({
  sku: Id,
  productId: Id,
  title: z.string().max(600),
  quantity: z.literal(1),
  unitPrice: Money,
});

/** A hold as the order's inventory objects know it (see SkuHold). */
const Hold = z.object({
  sku: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(1_000_000),
  expiresAt: z.iso.datetime(),
  buckets: z
    .array(z.object({ bucket: z.number().int().min(0).max(31), quantity: z.number().int().min(1) }))
    .min(1),
});

/** An order a draw won and charged, for its shard to record (see OrderShard.recordDrawn). */
export const DrawnOrder = z.object({
  order: z.object({
    id: Id,
    keyHash: z.string().regex(/^[0-9a-f]{64}$/),
    tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
    items: z.array(Item).length(1),
    total: Money,
    // The entry's pricing (shipping, tax), as a checkout order keeps its own; none for an entry made
    // before entries were priced (its unit price was its total).
    pricing: CartPricingRecord.optional(),
    customer: z.object({ email: z.string().min(3).max(254), name: z.string().max(200).optional() }),
    shippingAddress: z.record(z.string(), z.string().max(200)).optional(),
    paymentToken: z.string().min(1).max(255),
    holds: z.array(Hold).min(1).max(32),
    holdExpiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
  }),
  chargeId: z.string().min(1).max(255),
  /** What the capture charged (the whole authorization): it must be the order's total. */
  captured: Money,
  intentId: z.string().min(1).max(255).nullable(),
  orderToken: z.string().min(1).max(100),
});
export type DrawnOrder = z.input<typeof DrawnOrder>;
