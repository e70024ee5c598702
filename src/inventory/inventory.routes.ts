import { createRoute } from "@hono/zod-openapi";
import { settings } from "../config";
import { createRouter } from "../http/router";
import { problems } from "../shared/problem";
import { Inventory, SkuParams } from "./inventory.schemas";
import { readSnapshot, stockStatus } from "./inventory.service";

const getRoute = createRoute({
  method: "get",
  path: "/inventory/{sku}",
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
  const snapshot = await readSnapshot(c.env, sku);
  c.header("Cache-Control", "no-store");
  return c.json(
    {
      sku,
      available: snapshot.available,
      status: stockStatus(snapshot.available, settings(c.env).lowStockThreshold),
    },
    200,
  );
});
