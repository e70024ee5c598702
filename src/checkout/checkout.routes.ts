import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { AppError } from "../errors";
import { createRouter } from "../http/router";
import { problems } from "../shared/problem";
import { scopeOf } from "../shared/scope";
import { CheckoutAccepted, CheckoutRequest } from "./checkout.schemas";
import { checkout } from "./checkout.service";
import { parseIdempotencyKey } from "./idempotency";

const checkoutRoute = createRoute({
  method: "post",
  path: "/checkout",
  tags: ["Checkout"],
  summary: "Hold the stock, record the order and queue its payment",
  request: {
    headers: z.object({
      "idempotency-key": z.string().optional().openapi({
        description: "Required: 1..255 visible ASCII characters, or a quoted sf-string",
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
      { status: 409, description: "insufficient_stock (with skus[]) or idempotency_key_in_use" },
      { status: 413, description: "Body over 64 KiB" },
      { status: 422, description: "idempotency_key_mismatch: the key was used with another body" },
      { status: 429, description: "rate_limited (Retry-After)" },
      { status: 503, description: "service_unavailable (Retry-After); nothing was held or recorded" },
    ),
  },
});

/** Rate limiting is per client; behind Cloudflare the connecting IP cannot be forged. */
function clientKey(headers: Headers): string {
  return headers.get("CF-Connecting-IP") ?? "anonymous";
}

const RATE_LIMIT_PERIOD_SECONDS = 10;

/** Applied before the body is even parsed, so junk is limited as much as real checkouts are. */
const rateLimit = createMiddleware<AppEnv>(async function checkoutRateLimit(c, next) {
  const { success } = await c.env.CHECKOUT_LIMITER.limit({ key: clientKey(c.req.raw.headers) });
  if (!success) {
    throw new AppError("rate_limited", {
      detail: "Too many checkouts from this client; retry after the period",
      headers: { "Retry-After": String(RATE_LIMIT_PERIOD_SECONDS) },
    });
  }
  await next();
});

export const checkoutRoutes = createRouter();
checkoutRoutes.use("/checkout", rateLimit);
checkoutRoutes.openapi(checkoutRoute, async (c) => {
  const key = parseIdempotencyKey(c.req.header("Idempotency-Key"));
  const result = await checkout(scopeOf(c), key, c.req.valid("json"), c.get("requestId"));
  const headers = new Headers(result.headers);
  if (result.replayed) headers.set("Idempotent-Replayed", "true");
  headers.set("Cache-Control", "no-store");
  return new Response(result.body, { status: result.status, headers }) as never;
});
