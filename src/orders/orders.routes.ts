import { createRoute } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { problems } from "../shared/problem";
import { Order, OrderParams } from "./orders.schemas";
import { cancelOrder, readOrder, recheckPayment } from "./orders.service";

const security = [{ orderToken: [] }];

const getRoute = createRoute({
  method: "get",
  path: "/orders/{id}",
  operationId: "getOrder",
  tags: ["Orders"],
  summary: "An order, for the holder of its token",
  security,
  request: { params: OrderParams },
  responses: {
    200: { description: "The order", content: { "application/json": { schema: Order } } },
    ...problems({ status: 404, description: "Unknown order or wrong token (order_not_found)" }),
  },
});

const cancelRoute = createRoute({
  method: "post",
  path: "/orders/{id}/cancel",
  operationId: "cancelOrder",
  tags: ["Orders"],
  summary: "Cancel an unpaid order and release its stock",
  security,
  request: { params: OrderParams },
  responses: {
    200: { description: "The cancelled order", content: { "application/json": { schema: Order } } },
    ...problems(
      { status: 404, description: "Unknown order or wrong token (order_not_found)" },
      { status: 409, description: "Already paid or failed (order_not_cancellable)" },
    ),
  },
});

const recheckRoute = createRoute({
  method: "post",
  path: "/orders/{id}/check-payment",
  operationId: "checkOrderPayment",
  tags: ["Orders"],
  summary: "Have the payment looked at again now (after the buyer completed 3-D Secure)",
  description:
    "For an order whose payment is requires_action or processing, the gateway is asked again at once (at most every 2 s); otherwise nothing changes. Answers the order as it is now; poll it for the outcome.",
  security,
  request: { params: OrderParams },
  responses: {
    200: { description: "The order", content: { "application/json": { schema: Order } } },
    ...problems({ status: 404, description: "Unknown order or wrong token (order_not_found)" }),
  },
});

export const orderRoutes = createRouter()
  .openapi(getRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await readOrder(c.env, c.req.valid("param").id, c.req.header("Authorization")), 200);
  })
  .openapi(recheckRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await recheckPayment(c.env, c.req.valid("param").id, c.req.header("Authorization")), 200);
  })
  .openapi(cancelRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await cancelOrder(c.env, c.req.valid("param").id, c.req.header("Authorization")), 200);
  });
