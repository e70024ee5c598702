import { createRoute } from "@hono/zod-openapi";
import { priceSkus } from "../catalog/catalog.service";
import { createRouter } from "../http/router";
import { background, scopeOf } from "../http/scope";
import { settings } from "../shared/config";
import { EdgeMemo } from "../shared/edge-memo";
import { AppError } from "../shared/errors";
import { problems } from "../shared/problem";
import { remembersSoldOut } from "./inventory.holds";
import { Inventory, SkuParams } from "./inventory.schemas";
import { readCounts, stockStatus } from "./inventory.service";

const getRoute = createRoute({
  method: "get",
  path: "/inventory/{sku}",
  operationId: "getInventory",
  // Public: no credentials.
  security: [],
  tags: ["Inventory"],
  summary: "Availability of one SKU",
  request: { params: SkuParams },
  responses: {
    200: { description: "Current availability", content: { "application/json": { schema: Inventory } } },
    ...problems({ status: 404, description: "Unknown SKU (code sku_not_found)" }),
  },
});

export const inventoryRoutes = createRouter().openapi(getRoute, async (c) => {
  const { sku } = c.req.valid("param");
  const scope = scopeOf(c);
  const { lowStockThreshold, soldOutTtlSeconds } = settings(c.env);
  c.header("Cache-Control", "no-store");
  // A SKU this location knows to be sold out is answered without asking its objects: storefronts
  // poll the flash-sale SKU hardest exactly when it is gone.
  const soldOutAnswer = () => c.json({ sku, available: 0, status: "sold_out" as const }, 200);
  if (remembersSoldOut(sku)) return soldOutAnswer();
  // Only SKUs the catalog sells are looked up: naming a SKU must not create an object for it, nor
  // anything in this isolate's memory.
  if (!(await priceSkus(scope, [sku])).has(sku)) {
    throw new AppError("sku_not_found", { detail: `No product in the catalog has SKU ${sku}` });
  }
  const soldOut = new EdgeMemo("sold-out", scope.origin);
  if (await soldOut.get(sku)) return soldOutAnswer();
  const totals = await readCounts(c.env, sku);
  if (totals.available <= 0) background(scope, "sold-out flag", soldOut.put(sku, "1", soldOutTtlSeconds));
  return c.json(
    { sku, available: totals.available, status: stockStatus(totals.available, lowStockThreshold) },
    200,
  );
});
