import { createRoute } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { InventoryDetail, SetStock, SkuParams, StockAdjustment } from "../inventory/inventory.schemas";
import { adjustStock, readSnapshot, setStock } from "../inventory/inventory.service";
import { problems } from "../shared/problem";

const security = [{ adminToken: [] }];
const detail = {
  description: "Stock of the SKU",
  content: { "application/json": { schema: InventoryDetail } },
};
const writeProblems = problems(
  { status: 400, description: "Invalid body" },
  { status: 401, description: "Missing or wrong admin token" },
  { status: 404, description: "SKU not in the catalog (code sku_not_found)" },
  { status: 409, description: "Would leave fewer units than reserved (code stock_below_reserved)" },
);

const getRoute = createRoute({
  method: "get",
  path: "/inventory/{sku}",
  tags: ["Admin"],
  summary: "Stock detail of one SKU, with its holds",
  security,
  request: { params: SkuParams },
  responses: {
    200: detail,
    ...problems(
      { status: 401, description: "Missing or wrong admin token" },
      { status: 404, description: "No stock kept for this SKU (code sku_not_found)" },
    ),
  },
});

const setRoute = createRoute({
  method: "put",
  path: "/inventory/{sku}",
  tags: ["Admin"],
  summary: "Set the count on hand (a stock take); resets committed",
  security,
  request: {
    params: SkuParams,
    body: { required: true, content: { "application/json": { schema: SetStock } } },
  },
  responses: { 200: detail, ...writeProblems },
});

const adjustRoute = createRoute({
  method: "post",
  path: "/inventory/{sku}/adjustments",
  tags: ["Admin"],
  summary: "Add or remove units with a reason",
  security,
  request: {
    params: SkuParams,
    body: { required: true, content: { "application/json": { schema: StockAdjustment } } },
  },
  responses: { 200: detail, ...writeProblems },
});

export const adminInventoryRoutes = createRouter()
  .openapi(getRoute, async (c) => c.json(await readSnapshot(c.env, c.req.valid("param").sku), 200))
  .openapi(setRoute, async (c) => {
    const snapshot = await setStock(c.env, c.req.valid("param").sku, c.req.valid("json").onHand);
    return c.json(snapshot, 200);
  })
  .openapi(adjustRoute, async (c) => {
    const { delta, reason } = c.req.valid("json");
    return c.json(await adjustStock(c.env, c.req.valid("param").sku, delta, reason), 200);
  });
