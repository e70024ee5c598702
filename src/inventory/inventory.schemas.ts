import { z } from "@hono/zod-openapi";
import { Sku } from "../catalog/catalog.schemas";

const MAX_UNITS = 1_000_000_000;

export const SkuParams = z.object({
  sku: Sku.openapi({ param: { name: "sku", in: "path" } }),
});

export const StockStatus = z.enum(["in_stock", "low_stock", "sold_out"]);

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
      z.object({ orderId: z.string(), quantity: z.number().int(), expiresAt: z.iso.datetime() }),
    ),
    updatedAt: z.iso.datetime(),
  })
  .openapi("InventoryDetail");

export const SetStock = z
  .object({
    onHand: z.number().int().min(0).max(MAX_UNITS),
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
    reason: z.string().trim().min(1).max(500),
  })
  .strict()
  .openapi("StockAdjustment");
