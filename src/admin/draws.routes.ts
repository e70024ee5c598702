import { createRoute, z } from "@hono/zod-openapi";
import { DrawSettings, Product, ProductIdParams } from "../catalog/catalog.schemas";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { cancelDraw, drawStatus, setUpDraw } from "../orders/protocol";
import { problems } from "../shared/problem";

const security = [{ adminToken: [] }];

const Status = z
  .object({
    phase: z
      .enum(["pooling", "short", "open", "closing", "sealed", "drawing", "drawn", "cancelled"])
      .openapi({
        description:
          "pooling: its units being held; short: the stock was not there (nothing held; it may be set up again); open: held, entries taken in the window; closing: the entry books freezing; sealed: the frozen list's digest published, the seed not yet; drawing: the seed revealed, winners charged in rank order; drawn; cancelled: by the shop (or a beacon round that never came) before the walk, every entry lost and its authorization cancelled, the units back in stock",
      }),
    detail: z.string().nullable(),
    commitment: z.string(),
    units: z.record(z.string(), z.number().int()),
    held: z.number().int().openapi({ description: "Units held in stock for the draw" }),
    entries: z.number().int().openapi({ description: "Entries in the frozen list (once closed)" }),
    won: z.number().int().openapi({ description: "Units sold to winners (captured)" }),
    passedOn: z
      .number()
      .int()
      .openapi({ description: "Entries ranked to win whose capture failed: their unit went on" }),
    books: z
      .object({
        pending: z.number().int(),
        entered: z.number().int(),
        withdrawn: z.number().int(),
        void: z.number().int(),
        won: z.number().int(),
        lost: z.number().int(),
      })
      .optional()
      .openapi({
        description: "The entry books' counts by state, as they are now (also while entries are taken)",
      }),
  })
  .openapi("DrawStatus");

const setUpRoute = createRoute({
  method: "post",
  path: "/products/{id}/draw",
  operationId: "setUpDraw",
  tags: ["Admin"],
  summary: "Sell a product by draw: hold its units, commit to a secret seed, publish the draw",
  security,
  request: {
    params: ProductIdParams,
    body: { required: true, content: { "application/json": { schema: DrawSettings } } },
  },
  responses: {
    201: {
      description: "The draw is set up (the same request again answers the same)",
      content: { "application/json": { schema: z.object({ product: Product, status: Status }) } },
    },
    ...problems(
      { status: 400, description: "Invalid body (validation_failed)" },
      { status: 401, description: "Missing or wrong admin token" },
      { status: 404, description: "product_not_found" },
      {
        status: 409,
        description:
          "draw_exists (another setup of this product's draw), draw_stock_short (nothing was held)",
      },
      { status: 503, description: "service_unavailable: repeat the same request (Retry-After)" },
    ),
  },
});

const statusRoute = createRoute({
  method: "get",
  path: "/products/{id}/draw",
  operationId: "getDrawStatus",
  tags: ["Admin"],
  summary: "Where a product's draw stands",
  security,
  request: { params: ProductIdParams },
  responses: {
    200: { description: "The draw's status", content: { "application/json": { schema: Status } } },
    ...problems(
      { status: 401, description: "Missing or wrong admin token" },
      { status: 404, description: "draw_not_found" },
    ),
  },
});

const cancelRoute = createRoute({
  method: "delete",
  path: "/products/{id}/draw",
  operationId: "cancelDraw",
  tags: ["Admin"],
  summary:
    "Cancel a draw before it is drawn: every entry lost, every authorization cancelled, the units back",
  security,
  request: { params: ProductIdParams },
  responses: {
    200: { description: "Cancelled (again: the same)", content: { "application/json": { schema: Status } } },
    ...problems(
      { status: 401, description: "Missing or wrong admin token" },
      { status: 404, description: "draw_not_found" },
      { status: 409, description: "draw_not_cancellable: its winners are being charged, or it is drawn" },
    ),
  },
});

export const adminDrawRoutes = createRouter()
  .openapi(setUpRoute, async (c) => {
    const answer = await setUpDraw(scopeOf(c), c.req.valid("param").id, c.req.valid("json"));
    return c.json(answer, 201);
  })
  .openapi(statusRoute, async (c) => c.json(await drawStatus(c.env, c.req.valid("param").id), 200))
  .openapi(cancelRoute, async (c) => c.json(await cancelDraw(c.env, c.req.valid("param").id), 200));
