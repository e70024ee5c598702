import { z } from "zod";

/** Arguments crossing into an inventory object are validated there too: the object trusts no caller. */
export const MAX_UNITS = 1_000_000_000;

export const OrderId = z.string().min(1).max(128);
export const Quantity = z.number().int().min(0).max(MAX_UNITS);
export const Delta = z.number().int().min(-MAX_UNITS).max(MAX_UNITS);
export const Reason = z.string().min(1).max(500);
export const MAX_BUCKETS = 32;
export const BucketCount = z.number().int().min(1).max(MAX_BUCKETS);
/** An object's name: a SKU, or `SKU#n` for bucket n of a split one. */
export const BucketName = z.string().min(1).max(72);
export const StockTakeId = z.string().min(1).max(64);
export const AdjustmentKey = z.string().min(1).max(255);
const TransferId = z.string().min(1).max(64);
const TimestampMs = z.number().int().min(0).max(8.64e15);

export const InventoryArgs = {
  hold: z
    .object({
      orderId: OrderId,
      quantity: z.number().int().min(1).max(MAX_UNITS),
      expiresAtMs: TimestampMs,
      partial: z.boolean().default(false),
    })
    .strict(),
  move: z
    .object({ transferId: TransferId, to: BucketName, units: z.number().int().min(1).max(MAX_UNITS) })
    .strict(),
  moveIn: z
    .object({
      transferId: TransferId,
      from: BucketName,
      to: BucketName,
      units: z.number().int().min(1).max(MAX_UNITS),
      stockTake: z.string().max(64),
    })
    .strict(),
};

/**
 * Where a discount code's uses bucket stands in the code's split cap (see code-uses.ts): its own
 * name, which bucket of how many, the cap and version the checkout carries, and whether that cap is
 * the one the code was made with (`fresh`: only then may a checkout stock a bucket no change reached).
 */
export const ShareArgs = z
  .object({
    name: BucketName,
    bucket: z
      .number()
      .int()
      .min(0)
      .max(MAX_BUCKETS - 1),
    of: z.number().int().min(2).max(MAX_BUCKETS),
    cap: z.number().int().min(1).max(1_000_000),
    version: z.number().int().min(1).max(8.64e15),
    fresh: z.boolean(),
  })
  .strict()
  .refine((share) => share.bucket < share.of, "bucket must be below of");

export type HoldArgs = z.input<typeof InventoryArgs.hold>;
export type ShareArgs = z.input<typeof ShareArgs>;

/** Bucket `bucket`'s part of `total` split over `of` buckets: the parts differ by one at most, and sum to it. */
export const evenShare = (total: number, bucket: number, of: number) =>
  Math.floor(total / of) + (bucket < total % of ? 1 : 0);
export type MoveArgs = z.input<typeof InventoryArgs.move>;
export type MoveInArgs = z.input<typeof InventoryArgs.moveIn>;
