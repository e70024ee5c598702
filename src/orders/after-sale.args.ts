import { z } from "zod";
import type { Order } from "./orders.schemas";

/** The day after the sale: what the admin's calls carry into an order's shard, checked there too. */
const OrderId = z.string().min(1).max(64);
const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

const LineQuantities = z
  .array(
    z.object({ sku: z.string().min(1).max(64), quantity: z.number().int().min(1).max(1_000_000) }).strict(),
  )
  .max(50);

/** A refund the shop asks for, under its Idempotency-Key (hashed) and the hash of what it asks. */
export const RefundArgs = z
  .object({
    keyHash: Hex64,
    fingerprint: Hex64,
    amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .optional(),
    lines: LineQuantities.optional(),
    restock: z.boolean(),
    reason: z.string().max(500).optional(),
  })
  .strict();
export type RefundArgs = z.input<typeof RefundArgs>;

export const FulfillArgs = z
  .object({
    lines: LineQuantities.optional(),
    carrier: z.string().min(1).max(100),
    trackingNumber: z.string().min(1).max(100),
    trackingUrl: z.string().url().max(2000).optional(),
  })
  .strict();
export type FulfillArgs = z.input<typeof FulfillArgs>;

export const FulfillRows = z
  .array(FulfillArgs.extend({ orderId: OrderId, row: z.number().int().min(1) }))
  .max(10_000);
export type FulfillRow = z.input<typeof FulfillRows>[number];

/** What a refund, cancel or fulfilment came to at the order's shard. */
export type AfterSaleResult<T> =
  | { ok: true; made: T; replayed: boolean; order: Order }
  | { ok: false; code: string; detail: string }
  | null;
