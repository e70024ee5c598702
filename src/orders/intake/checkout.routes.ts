import { createRoute, z } from "@hono/zod-openapi";
import { isAdmin } from "../../http/admin-auth";
import { clientKey } from "../../http/client-key";
import { parseIdempotencyKey } from "../../http/idempotency-key";
import { createRouter } from "../../http/router";
import { scopeOf } from "../../http/scope";
import { problems } from "../../shared/problem";
import { CheckoutAccepted, CheckoutRequest } from "./checkout.schemas";
import { checkout } from "./checkout.service";

const checkoutRoute = createRoute({
  method: "post",
  path: "/checkout",
  operationId: "createCheckout",
  // Public: no credentials.
  security: [],
  tags: ["Checkout"],
  summary: "Hold the stock, record the order and queue its payment",
  request: {
    headers: z.object({
      // Checked by parseIdempotencyKey, so a missing key gets its own code (idempotency_key_missing).
      "idempotency-key": z
        .string()
        .optional()
        .openapi({
          param: { name: "idempotency-key", in: "header", required: true },
          description: "1..255 visible ASCII characters, or a quoted sf-string",
        }),
    }),
    body: { required: true, content: { "application/json": { schema: CheckoutRequest } } },
  },
  responses: {
    202: {
      description: "Order recorded; payment runs in the background (Location: /v1/orders/:id)",
      headers: { Location: { schema: { type: "string" } } },
      content: { "application/json": { schema: CheckoutAccepted } },
    },
    ...problems(
      {
        status: 400,
        description:
          "Invalid body or Idempotency-Key (validation_failed, idempotency_key_missing, idempotency_key_invalid)",
      },
      {
        status: 409,
        description:
          "insufficient_stock (with skus[]), idempotency_key_in_use, sale_not_started (with saleStartsAt, skus[]; Retry-After) or purchase_limit_exceeded (with limit, requested)",
      },
      { status: 413, description: "Body over 64 KiB" },
      {
        status: 422,
        description:
          "idempotency_key_mismatch (the key was used with another body), discount_not_applicable (with discount.reason), shipping_unavailable, or amount_below_minimum (with minimum: the total is below the smallest charge a gateway takes in its currency); nothing was held",
      },
      { status: 429, description: "rate_limited (Retry-After)" },
      {
        status: 503,
        description:
          "service_unavailable, or payments_not_configured (a deployment with no gateway allowed); Retry-After; nothing was held or recorded",
      },
    ),
  },
});

const showsTiming = async (env: Env, authorization: string | undefined) =>
  env.SERVER_TIMING === "true" || (authorization !== undefined && (await isAdmin(env, authorization)));

export const checkoutRoutes = createRouter();
checkoutRoutes.openapi(checkoutRoute, async (c) => {
  const key = parseIdempotencyKey(c.req.header("Idempotency-Key"));
  const body = c.req.valid("json");
  const result = await checkout(scopeOf(c), key, body, {
    requestId: c.get("requestId"),
    client: clientKey(c.req.raw.headers),
  });
  const headers = new Headers(result.headers);
  if (result.replayed) headers.set("Idempotent-Replayed", "true");
  // Checkout's internal stages are for the operator: the admin token, or SERVER_TIMING on.
  if (result.serverTiming && (await showsTiming(c.env, c.req.header("Authorization")))) {
    headers.set("Server-Timing", result.serverTiming);
  }
  headers.set("Cache-Control", "no-store");
  return new Response(result.body, { status: result.status, headers }) as never;
});
