import { createRoute, z } from "@hono/zod-openapi";
import { database } from "../db/client";
import { createRouter } from "../http/router";
import { OrderListQuery, OrderPage } from "../orders/orders.schemas";
import { listOrders, orderSummary } from "../orders/orders.storage";
import { reconcile } from "../payments/reconciler";
import { decodeCursor, encodeCursor } from "../shared/cursor";
import { Money } from "../shared/money";
import { problems } from "../shared/problem";

const security = [{ adminToken: [] }];
const unauthorized = problems({ status: 401, description: "Missing or wrong admin token" });

const listRoute = createRoute({
  method: "get",
  path: "/orders",
  tags: ["Admin"],
  summary: "Orders, newest first, optionally by status",
  security,
  request: { query: OrderListQuery },
  responses: {
    200: { description: "A page of orders", content: { "application/json": { schema: OrderPage } } },
    ...problems({ status: 400, description: "Invalid query or cursor" }),
    ...unauthorized,
  },
});

const chargesRoute = createRoute({
  method: "get",
  path: "/simulator/charges",
  tags: ["Admin"],
  summary: "The payment simulator's own ledger, for audits",
  security,
  request: { query: z.object({ orderId: z.string().min(1).max(64).optional() }) },
  responses: {
    200: {
      description: "Charges the simulator made",
      content: {
        "application/json": {
          schema: z.object({
            charges: z.array(
              z.object({
                id: z.string(),
                orderId: z.string(),
                amount: Money,
                status: z.enum(["succeeded", "refunded"]),
                idempotencyKey: z.string(),
              }),
            ),
          }),
        },
      },
    },
    ...unauthorized,
  },
});

const reconcileRoute = createRoute({
  method: "post",
  path: "/reconcile",
  tags: ["Admin"],
  summary: "Run the payment reconciler now (it also runs on the cron trigger)",
  security,
  responses: {
    200: {
      description: "What the run did",
      content: {
        "application/json": {
          schema: z.object({
            resent: z.number(),
            settled: z.number(),
            expiredKeys: z.number(),
            failures: z.number(),
          }),
        },
      },
    },
    ...unauthorized,
  },
});

const summaryRoute = createRoute({
  method: "get",
  path: "/orders/summary",
  tags: ["Admin"],
  summary: "Orders by status, payments pending, dead-lettered and unsent (for the ops page)",
  security,
  responses: {
    200: {
      description: "Counts",
      content: {
        "application/json": {
          schema: z.object({
            byStatus: z.record(z.string(), z.number()),
            paymentsPending: z.number(),
            deadLettered: z
              .number()
              .openapi({ description: "Orders whose payment retries ran out (dead-letter queue)" }),
            unsentPayments: z.number().openapi({ description: "Outbox rows not yet handed to the queue" }),
          }),
        },
      },
    },
    ...unauthorized,
  },
});

const Cursor = z.object({ before: z.string().min(1).max(64) }).strict();

export const adminOrderRoutes = createRouter()
  .openapi(summaryRoute, async (c) => c.json(await orderSummary(database(c.env.DB)), 200))
  .openapi(listRoute, async (c) => {
    const { status, limit, cursor } = c.req.valid("query");
    const beforeId = cursor ? decodeCursor(cursor, Cursor).before : undefined;
    const page = await listOrders(database(c.env.DB), { status, limit, beforeId });
    const nextCursor = page.hasMore && page.lastId ? encodeCursor({ before: page.lastId }) : null;
    return c.json({ items: page.orders, nextCursor }, 200);
  })
  .openapi(chargesRoute, async (c) => {
    const charges = await c.env.SIMULATOR.getByName("simulator").charges(c.req.valid("query").orderId);
    return c.json(
      {
        charges: charges.map(({ id, orderId, amount, status, idempotencyKey }) => ({
          id,
          orderId,
          amount,
          status,
          idempotencyKey,
        })),
      },
      200,
    );
  })
  .openapi(reconcileRoute, async (c) => c.json(await reconcile(c.env), 200));
