import { createRoute, z } from "@hono/zod-openapi";
import { parseIdempotencyKey } from "../http/idempotency-key";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import {
  InventoryDetail,
  LedgerEntry,
  LedgerQuery,
  SetStock,
  SkuParams,
  StockAdjustment,
} from "../inventory/inventory.schemas";
import { adjustStock, readLedger, readTotals, rebalance, setStock } from "../inventory/inventory.service";
import { problems } from "../shared/problem";

const security = [{ adminToken: [] }];
const detail = {
  description: "Stock of the SKU",
  content: { "application/json": { schema: InventoryDetail } },
};
const readProblems = problems(
  { status: 401, description: "Missing or wrong admin token" },
  { status: 404, description: "No stock kept for this SKU (code sku_not_found)" },
);
const writeProblems = problems(
  { status: 400, description: "Invalid body" },
  { status: 401, description: "Missing or wrong admin token" },
  { status: 404, description: "SKU not in the catalog (code sku_not_found)" },
  { status: 409, description: "Would leave fewer units than reserved (code stock_below_reserved)" },
);

const getRoute = createRoute({
  method: "get",
  path: "/inventory/{sku}",
  operationId: "getStockDetail",
  tags: ["Admin"],
  summary: "Stock detail of one SKU, with its holds and buckets",
  security,
  request: { params: SkuParams },
  responses: { 200: detail, ...readProblems },
});

const setRoute = createRoute({
  method: "put",
  path: "/inventory/{sku}",
  operationId: "setStock",
  tags: ["Admin"],
  summary:
    "Set the count on hand (a stock take; resets committed), optionally splitting a hot SKU into buckets",
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
  operationId: "adjustStock",
  tags: ["Admin"],
  summary: "Add or remove units with a reason",
  description:
    "With an Idempotency-Key the adjustment is made once: repeat a request that got no answer or a 503 with the same key, and it is not applied twice.",
  security,
  request: {
    params: SkuParams,
    headers: z.object({
      "idempotency-key": z.string().optional().openapi({
        description: "Optional: 1..255 visible ASCII characters; makes the adjustment safe to repeat",
      }),
    }),
    body: { required: true, content: { "application/json": { schema: StockAdjustment } } },
  },
  responses: {
    200: detail,
    ...writeProblems,
    ...problems({
      status: 422,
      description: "idempotency_key_mismatch: the key was used for another adjustment of this SKU",
    }),
  },
});

const rebalanceRoute = createRoute({
  method: "post",
  path: "/inventory/{sku}/rebalance",
  operationId: "rebalanceStock",
  tags: ["Admin"],
  summary: "Even out the free units over a split SKU's buckets",
  security,
  request: { params: SkuParams },
  responses: { 200: detail, ...readProblems },
});

const ledgerRoute = createRoute({
  method: "get",
  path: "/inventory/{sku}/ledger",
  operationId: "getStockLedger",
  tags: ["Admin"],
  summary: "Every movement of the SKU's stock, newest first",
  security,
  request: { params: SkuParams, query: LedgerQuery },
  responses: {
    200: {
      description: "Ledger entries",
      content: { "application/json": { schema: z.object({ items: z.array(LedgerEntry) }) } },
    },
    ...readProblems,
  },
});

export const adminInventoryRoutes = createRouter()
  .openapi(getRoute, async (c) => c.json(await readTotals(c.env, c.req.valid("param").sku), 200))
  .openapi(setRoute, async (c) => {
    const { onHand, buckets } = c.req.valid("json");
    return c.json(await setStock(scopeOf(c), c.req.valid("param").sku, onHand, buckets), 200);
  })
  .openapi(adjustRoute, async (c) => {
    const { delta, reason } = c.req.valid("json");
    const header = c.req.header("Idempotency-Key");
    const key = header === undefined ? undefined : parseIdempotencyKey(header);
    return c.json(await adjustStock(scopeOf(c), c.req.valid("param").sku, delta, reason, key), 200);
  })
  .openapi(rebalanceRoute, async (c) => c.json(await rebalance(scopeOf(c), c.req.valid("param").sku), 200))
  .openapi(ledgerRoute, async (c) => {
    const items = await readLedger(c.env, c.req.valid("param").sku, c.req.valid("query").limit);
    return c.json({ items }, 200);
  });
