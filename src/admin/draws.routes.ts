import { createRoute, z } from "@hono/zod-openapi";
import { DrawSettings, Product, ProductIdParams } from "../catalog/catalog.schemas";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { cancelDraw, drawStatus, drawTimeline, setUpDraw } from "../orders/protocol";
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
    opensAt: z.iso.datetime(),
    closesAt: z.iso.datetime(),
    cancelledAt: z.iso
      .datetime()
      .nullable()
      .openapi({ description: "When it was cancelled (null: it was not)" }),
    units: z.record(z.string(), z.number().int()),
    held: z.number().int().openapi({ description: "Units held in stock for the draw" }),
    givenBack: z.number().int().openapi({
      description:
        "Units that were held for the draw and given back to stock: those nobody won, or every held unit of a cancelled (or short) draw; units never held are not counted",
    }),
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
        description:
          "The entry books' counts by state, as they are now (also while entries are taken); left out of a cancel's answer when a book could not be counted",
      }),
    authorizations: z
      .object({
        released: z.number().int().openapi({
          description:
            "No longer held: cancelled at the gateway, or, for one in doubt, found failed or never made there",
        }),
        toCancel: z.number().int().openapi({
          description:
            "Still to cancel: held by entries that left the draw (withdrawn, never entered, lost), the sweep's work left",
        }),
      })
      .optional()
      .openapi({ description: "The entrants' card authorizations (the winners' are captured: `won`)" }),
  })
  .openapi("DrawStatus");

/** A time the timeline can start or end at: none before 1970 (the books count from the epoch). */
const TimelineTime = z.iso
  .datetime()
  .refine((value) => Date.parse(value) >= 0, { message: "Must not be before 1970-01-01T00:00:00Z" });

const TimelineQuery = z.object({
  from: TimelineTime.optional().openapi({
    description: "From this time (default: the draw's open), rounded down to a bucket",
  }),
  to: TimelineTime.optional().openapi({
    description: "Up to this time (default: now, or the close once it passed), rounded up to a bucket",
  }),
  bucketSeconds: z.coerce.number().int().min(60).max(86_400).optional().openapi({
    description:
      "The finest bucket wanted (default 60 s); a coarser one is used when the window would give more than 360 buckets",
  }),
});

const Timeline = z
  .object({
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    bucketSeconds: z.number().int(),
    entered: z.number().int().openapi({ description: "Entries that entered in the window" }),
    withdrawn: z.number().int().openapi({ description: "Entries withdrawn (after entering) in the window" }),
    points: z
      .array(
        z.object({
          at: z.iso.datetime().openapi({ description: "The bucket's start" }),
          entered: z.number().int(),
          withdrawn: z.number().int(),
        }),
      )
      .openapi({ description: "Every bucket from `from` to `to`, in order (at most 360)" }),
  })
  .openapi("DrawTimeline");

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
      { status: 503, description: "service_unavailable: an entry book did not answer (Retry-After)" },
    ),
  },
});

const timelineRoute = createRoute({
  method: "get",
  path: "/products/{id}/draw/timeline",
  operationId: "getDrawTimeline",
  tags: ["Admin"],
  summary: "A draw's entries over time: entered and withdrawn per bucket, over all its entry books",
  security,
  request: { params: ProductIdParams, query: TimelineQuery },
  responses: {
    200: { description: "The entries over time", content: { "application/json": { schema: Timeline } } },
    ...problems(
      { status: 400, description: "Invalid query (validation_failed)" },
      { status: 401, description: "Missing or wrong admin token" },
      { status: 404, description: "draw_not_found" },
      { status: 503, description: "service_unavailable: an entry book did not answer (Retry-After)" },
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
      { status: 503, description: "service_unavailable: an entry book did not answer (Retry-After)" },
    ),
  },
});

export const adminDrawRoutes = createRouter()
  .openapi(setUpRoute, async (c) => {
    const answer = await setUpDraw(scopeOf(c), c.req.valid("param").id, c.req.valid("json"));
    return c.json(answer, 201);
  })
  .openapi(statusRoute, async (c) => c.json(await drawStatus(c.env, c.req.valid("param").id), 200))
  .openapi(timelineRoute, async (c) =>
    c.json(await drawTimeline(c.env, c.req.valid("param").id, c.req.valid("query")), 200),
  )
  .openapi(cancelRoute, async (c) => c.json(await cancelDraw(scopeOf(c), c.req.valid("param").id), 200));
