import { createRoute, z } from "@hono/zod-openapi";
import Stripe from "stripe";
import { AppError } from "../errors";
import { createRouter } from "../http/router";
import { OrderId } from "../orders/intake.args";
import { orderShard, shardOfOrder } from "../orders/shards";
import { logEvent } from "../shared/log";
import { problems } from "../shared/problem";

/** How old a signed event may be (Stripe's own default tolerance). */
const TOLERANCE_SECONDS = 300;
const crypto = Stripe.createSubtleCryptoProvider();

/**
 * Stripe's events, verified with the official SDK over the raw body (`constructEventAsync`, Web
 * Crypto): a missing, bad or stale signature is a 400 and changes nothing. A PaymentIntent event
 * for one of our orders (its `metadata.order_id`) is handed to the order's shard, which takes each
 * event id once and looks at a pending order again at once; the decision itself comes from asking
 * Stripe, so late, repeated or reordered events cannot change it.
 */
export async function receiveStripeEvent(env: Env, rawBody: string, signature: string | undefined) {
  const secret = env.STRIPE_WEBHOOK_SECRET;
  if (!secret) {
    throw new AppError("webhooks_not_configured", {
      detail: "STRIPE_WEBHOOK_SECRET is not set (wrangler secret put STRIPE_WEBHOOK_SECRET)",
      headers: { "Retry-After": "300" },
    });
  }
  let event: Stripe.Event;
  try {
    const stripe = new Stripe(env.STRIPE_SECRET_KEY || "sk_unused", {
      httpClient: Stripe.createFetchHttpClient(),
    });
    event = await stripe.webhooks.constructEventAsync(
      rawBody,
      signature ?? "",
      secret,
      TOLERANCE_SECONDS,
      crypto,
    );
  } catch (error) {
    throw new AppError("webhook_signature_invalid", {
      detail: `The Stripe-Signature header does not sign this body with the endpoint's secret, or is older than ${TOLERANCE_SECONDS} s`,
      cause: error,
    });
  }
  const object = event.data.object as { metadata?: Record<string, string> | null };
  const orderId = OrderId.safeParse(object.metadata?.order_id);
  const shard = orderId.success ? shardOfOrder(orderId.data) : null;
  if (!event.type.startsWith("payment_intent.") || !orderId.success || shard === null) {
    logEvent("info", "stripe event not about one of our orders' payments; acknowledged", {
      id: event.id,
      type: event.type,
    });
    return { received: true as const, orderId: null, duplicate: false };
  }
  const taken = await orderShard(env, shard).gatewayEvent({
    eventId: event.id,
    orderId: orderId.data,
    type: event.type,
  });
  return { received: true as const, orderId: taken.known ? orderId.data : null, duplicate: taken.duplicate };
}

const stripeWebhookRoute = createRoute({
  method: "post",
  path: "/webhooks/stripe",
  operationId: "receiveStripeEvent",
  tags: ["Payments"],
  summary: "Stripe's events about payments (signed with the endpoint's secret)",
  description:
    "The raw JSON body of a Stripe event, signed in the Stripe-Signature header. PaymentIntent events of an order are taken once by event id and make its payment be looked at again at once.",
  // Authenticated by the signature over the body, not by a token.
  security: [],
  request: {
    headers: z.object({
      "stripe-signature": z
        .string()
        .optional()
        .openapi({ description: "t=<timestamp>,v1=<HMAC-SHA256 of `<timestamp>.<body>`>" }),
    }),
  },
  responses: {
    200: {
      description: "Taken (or acknowledged as not about an order's payment)",
      content: {
        "application/json": {
          schema: z.object({
            received: z.literal(true),
            orderId: z.string().nullable(),
            duplicate: z.boolean().openapi({ description: "This event id was taken before" }),
          }),
        },
      },
    },
    ...problems(
      { status: 400, description: "webhook_signature_invalid: missing, wrong or stale signature" },
      { status: 503, description: "webhooks_not_configured (Retry-After)" },
    ),
  },
});

export const webhookRoutes = createRouter().openapi(stripeWebhookRoute, async (c) => {
  const answer = await receiveStripeEvent(c.env, await c.req.text(), c.req.header("Stripe-Signature"));
  return c.json(answer, 200);
});
