import { z } from "@hono/zod-openapi";
import { Sku } from "../catalog/catalog.schemas";
import { singleLine } from "../shared/text";
import { MAX_BUCKETS, MAX_UNITS } from "./inventory.args";

export const SkuParams = z.object({
  sku: Sku.openapi({ param: { name: "sku", in: "path" } }),
});

const StockStatus = z.enum(["in_stock", "low_stock", "sold_out"]);

export const Inventory = z
  .object({
    sku: z.string(),
    available: z.number().int(),
    status: StockStatus,
  })
  .openapi("Inventory");

export const InventoryDetail = z
  .object({
    sku: z.string(),
    onHand: z.number().int(),
    reserved: z.number().int(),
    available: z.number().int(),
    committed: z.number().int().openapi({ description: "Units sold since the last PUT" }),
    holds: z.array(
      z.object({
        orderId: z.string(),
        quantity: z.number().int(),
        expiresAt: z.iso.datetime(),
        pinned: z.boolean().openapi({
          description:
            "A payment may be in flight: the hold lasts until the order is decided, past expiresAt",
        }),
      }),
    ),
    holdCount: z
      .number()
      .int()
      .openapi({ description: "How many holds there are; `holds` lists the 200 earliest to expire" }),
    updatedAt: z.iso.datetime(),
    bucketCount: z
      .number()
      .int()
      .openapi({ description: "How many objects share this SKU's stock (1 unless split)" }),
    buckets: z
      .array(
        z.object({
          bucket: z.number().int(),
          onHand: z.number().int(),
          reserved: z.number().int(),
          available: z.number().int(),
          committed: z.number().int(),
          retired: z.boolean().openapi({
            description:
              "Beyond the layout after a shrink: checkout no longer walks it, and every unit freed here moves to a walked bucket",
          }),
        }),
      )
      .openapi({ description: "Per-bucket figures; the top-level figures are their sums" }),
    conservation: z
      .object({
        stocked: z.number().int().openapi({ description: "What the last stock take (PUT) counted" }),
        adjusted: z.number().int().openapi({ description: "Units added or removed by adjustments since" }),
        onHand: z.number().int(),
        committed: z.number().int(),
        inTransit: z
          .number()
          .int()
          .openapi({ description: "Units moving between buckets: left one, not yet arrived in another" }),
        stranded: z
          .number()
          .int()
          .openapi({ description: "Free units in buckets checkout does not walk; 0 at rest" }),
        balanced: z.boolean().openapi({
          description:
            "onHand + committed + inTransit = stocked + adjusted, in every bucket's books and in sum",
        }),
        problems: z.array(z.string()).openapi({ description: "What does not add up, in words" }),
      })
      .openapi({ description: "Whether every unit of the SKU is accounted for" }),
  })
  .openapi("InventoryDetail");

export const LedgerEntry = z
  .object({
    bucket: z.number().int(),
    seq: z.number().int(),
    at: z.iso.datetime(),
    kind: z.string().openapi({
      description:
        "set, adjust, hold, commit, release, expire, move_out / move_in (units moved between buckets) or move_back (a move refused and returned)",
    }),
    quantity: z.number().int(),
    onHandAfter: z.number().int(),
    reservedAfter: z.number().int(),
    orderId: z.string().nullable(),
    reason: z.string().nullable(),
  })
  .openapi("LedgerEntry");

export const LedgerQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const SetStock = z
  .object({
    onHand: z.number().int().min(0).max(MAX_UNITS),
    buckets: z.number().int().min(1).max(MAX_BUCKETS).optional().openapi({
      description:
        "Split a hot SKU's stock over this many objects (default: keep the current layout, 1 for a new SKU)",
    }),
  })
  .strict()
  .openapi("SetStock");

export const StockAdjustment = z
  .object({
    delta: z
      .number()
      .int()
      .min(-MAX_UNITS)
      .max(MAX_UNITS)
      .refine((delta) => delta !== 0, "A zero adjustment changes nothing"),
    reason: singleLine(500),
  })
  .strict()
  .openapi("StockAdjustment");
