import { createRoute, z } from "@hono/zod-openapi";
import { Sku } from "../catalog/catalog.schemas";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { dashboard, MAX_WATCHED } from "../ops/dashboard";
import { IntakeCounts, Order } from "../orders/protocol";
import { problems } from "../shared/problem";

const DashboardQuery = z.object({
  skus: z
    .string()
    .max(MAX_WATCHED * 65)
    .optional()
    .transform((value) =>
      value
        ? [
            ...new Set(
              value
                .split(",")
                .map((sku) => sku.trim())
                .filter(Boolean),
            ),
          ]
        : [],
    )
    .pipe(z.array(Sku).max(MAX_WATCHED))
    .openapi({
      type: "string",
      description: `Comma-separated SKUs to watch (at most ${MAX_WATCHED}); default: the ones selling most`,
    }),
  minutes: z.coerce.number().int().min(1).max(60).default(10),
});

const PerSecond = z.object({
  accepted: z.number(),
  replayed: z.number(),
  refused: z.number().openapi({ description: "409: sold out, or the key in use" }),
  rateLimited: z.number(),
  unavailable: z.number(),
  invalid: z.number(),
});

const Dashboard = z
  .object({
    now: z.iso.datetime(),
    minutes: z.number().int(),
    payments: z
      .object({
        byStatus: z.record(z.string(), z.number()),
        paymentsPending: z.number(),
        deadLettered: z.number(),
        awaitingBuyer: z.number(),
        refunded: z.number(),
        disputed: z.number(),
        unsentPayments: z.number().nullable(),
      })
      .nullable(),
    intake: IntakeCounts.nullable(),
    recentOrders: z.array(Order).nullable(),
    sale: z
      .object({
        stepSeconds: z.number().int(),
        points: z.array(
          z.object({
            at: z.iso.datetime(),
            perSecond: PerSecond,
            p50Ms: z.number().nullable(),
            p99Ms: z.number().nullable(),
          }),
        ),
        topSkus: z.array(z.object({ sku: z.string(), units: z.number().int() })),
        unitsOf: z
          .record(z.string(), z.number().int())
          .openapi({ description: "Units sold over the window by each SKU asked about" }),
      })
      .nullable()
      .openapi({ description: "Checkout answers per second by outcome, and latency, over the window" }),
    drops: z
      .array(
        z.object({
          productId: z.string(),
          title: z.string(),
          saleStartsAt: z.string().nullable(),
          joined: z.number().int(),
          waiting: z.number().int(),
          admitted: z.number().int(),
          sold: z.number().int(),
          unitsLeft: z.number().int(),
          soldOut: z.boolean(),
        }),
      )
      .nullable()
      .openapi({ description: "The waiting rooms of the newest drops that have one" }),
    stock: z
      .array(
        z.union([
          z.object({
            sku: z.string(),
            known: z.literal(true),
            onHand: z.number().int(),
            reserved: z.number().int(),
            available: z.number().int(),
            committed: z.number().int(),
            stocked: z
              .number()
              .int()
              .openapi({ description: "onHand + committed: what the sale started with" }),
            soldInWindow: z.number().int(),
          }),
          z.object({ sku: z.string(), known: z.literal(false) }),
        ]),
      )
      .nullable(),
    unavailable: z
      .array(z.enum(["payments", "intake", "orders", "sale", "stock", "drops"]))
      .openapi({ description: "Parts that could not be read this time (the rest is current)" }),
  })
  .openapi("Dashboard");

const dashboardRoute = createRoute({
  method: "get",
  path: "/dashboard",
  operationId: "getDashboard",
  tags: ["Admin"],
  summary: "Everything the ops page shows, in one request",
  security: [{ adminToken: [] }],
  request: { query: DashboardQuery },
  responses: {
    200: { description: "The sale now", content: { "application/json": { schema: Dashboard } } },
    ...problems(
      { status: 400, description: "Invalid query" },
      { status: 401, description: "Missing or wrong admin token" },
    ),
  },
});

export const adminDashboardRoutes = createRouter().openapi(dashboardRoute, async (c) => {
  const { skus, minutes } = c.req.valid("query");
  c.header("Cache-Control", "no-store");
  return c.json(await dashboard(scopeOf(c), { skus, minutes }), 200);
});
