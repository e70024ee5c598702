import { createRoute, z } from "@hono/zod-openapi";
import { database } from "../db/client";
import { createRouter } from "../http/router";
import {
  IntakeCounts,
  intakeCounts,
  listOrders,
  OrderListQuery,
  OrderPage,
  orderSummary,
  reconcile,
} from "../orders/protocol";
import { settings } from "../shared/config";
import { decodeCursor, encodeCursor } from "../shared/cursor";
import { Money } from "../shared/money";
import { problems } from "../shared/problem";

const security = [{ adminToken: [] }];
const unauthorized = problems({ status: 401, description: "Missing or wrong admin token" });

const listRoute = createRoute({
  method: "get",
  path: "/orders",
  operationId: "listOrders",
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
  operationId: "listSimulatedCharges",
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
                refunded: Money.openapi({ description: "Refunded so far" }),
                status: z.enum(["succeeded", "refunded"]).openapi({ description: "refunded: in full" }),
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
  operationId: "reconcileOrders",
  tags: ["Admin"],
  summary: "Have every order shard work through what it owes now (they also do so by their own alarms)",
  security,
  responses: {
    200: {
      description: "What the run did, summed over the shards",
      content: {
        "application/json": {
          schema: z.object({
            resent: z.number().openapi({ description: "Payments handed to the queue again" }),
            settled: z
              .number()
              .openapi({ description: "Owed steps finished (commits, releases, refunds, checks)" }),
            failed: z
              .number()
              .openapi({ description: "Owed steps that failed this time; each retries on its backoff" }),
            stillOwed: z.number().openapi({ description: "Orders that still owe something" }),
            projected: z.number().openapi({ description: "Orders written to D1" }),
            released: z.number().openapi({ description: "Holds of abandoned checkout attempts given back" }),
            expiredKeys: z.number(),
            shardsUnreachable: z.number(),
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
  operationId: "getOrdersSummary",
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
            deadLettered: z.number().openapi({
              description:
                "Pending orders whose charge retries ran out: only the gateway's answer settles them",
            }),
            awaitingBuyer: z
              .number()
              .openapi({ description: "Pending orders whose payment waits for the buyer (3-D Secure)" }),
            refunded: z.number().openapi({ description: "Orders whose charge was refunded in full" }),
            disputed: z
              .number()
              .openapi({ description: "Orders with a dispute (chargeback) on their charge" }),
            unsentPayments: z
              .number()
              .openapi({ description: "Accepted orders whose payment has not been attempted yet" }),
            intake: IntakeCounts,
          }),
        },
      },
    },
    ...unauthorized,
  },
});

const Cursor = z.object({ before: z.string().min(1).max(64) }).strict();

export const adminOrderRoutes = createRouter()
  .openapi(summaryRoute, async (c) => {
    const [summary, intake] = await Promise.all([
      orderSummary(database(c.env.DB), settings(c.env).paymentMaxAttempts),
      intakeCounts(c.env),
    ]);
    const { notStarted, ...rest } = intake;
    return c.json({ ...summary, unsentPayments: notStarted, intake: rest }, 200);
  })
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
        charges: charges.map(({ id, orderId, amount, refunded, status, idempotencyKey }) => ({
          id,
          orderId,
          amount,
          refunded,
          status,
          idempotencyKey,
        })),
      },
      200,
    );
  })
  .openapi(reconcileRoute, async (c) => c.json(await reconcile(c.env), 200));
