import { createRoute, z } from "@hono/zod-openapi";
import Stripe from "stripe";
import { createRouter } from "../../http/router";
import type { GatewayEventDetail } from "../../payments/gateway";
import { stripeClient } from "../../payments/stripe.gateway";
import { AppError } from "../../shared/errors";
import { logEvent } from "../../shared/log";
import { problems } from "../../shared/problem";
import { OrderId } from "../protocol";
import { announceGatewayEvent } from "./gateway-events";

/** How old a signed event may be (Stripe's own default tolerance). */
const TOLERANCE_SECONDS = 300;
const crypto = Stripe.createSubtleCryptoProvider();

/**
 * Stripe's events, verified with the official SDK over the raw body (`constructEventAsync`, Web
 * Crypto): a missing, bad or stale signature is a 400 and changes nothing. An event about one of
 * our orders' payments (a PaymentIntent's, a refund's or a dispute's) is handed to the order's shard,
 * which takes each event id once and looks at a pending order again at once; the payment's decision
 * itself comes from asking Stripe, so late, repeated or reordered events cannot change it. A refund's
 * total and a dispute's standing are kept as the events report them, order-independently.
 */
async function receiveStripeEvent(env: Env, rawBody: string, signature: string | undefined) {
  const secret = env.STRIPE_WEBHOOK_SECRET;
  if (!secret) {
    logEvent("error", "a Stripe event was refused: its endpoint is not configured", {
      problem: "STRIPE_WEBHOOK_SECRET is not set (wrangler secret put STRIPE_WEBHOOK_SECRET)",
    });
    throw new AppError("webhooks_not_configured", {
      detail: "This endpoint does not take events yet; retry later",
      headers: { "Retry-After": "300" },
    });
  }
  const stripe = stripeClient(env);
  let event: Stripe.Event;
  try {
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
  const taken = await takeEvent(env, stripe, event);
  return {
    received: true as const,
    orderId: taken?.known ? taken.orderId : null,
    duplicate: !!taken?.duplicate,
  };
}

/** The events that say something about an order's payment; every other type is acknowledged. */
const TAKEN = new Set([
  "payment_intent.succeeded",
  "payment_intent.payment_failed",
  "payment_intent.processing",
  "payment_intent.requires_action",
  "payment_intent.canceled",
  "charge.refunded",
  "charge.dispute.created",
  "charge.dispute.updated",
  "charge.dispute.closed",
]);

async function takeEvent(env: Env, stripe: Stripe, event: Stripe.Event) {
  if (!TAKEN.has(event.type)) {
    logEvent("info", "stripe event acknowledged, not used", { id: event.id, type: event.type });
    return null;
  }
  const announce = (about: About) =>
    announceGatewayEvent(env, {
      eventId: event.id,
      orderId: about.orderId,
      type: event.type,
      ...(about.detail ? { detail: about.detail } : {}),
    });
  // A charge's own metadata names an ordinary order, so its event is taken without asking Stripe; a
  // draw's charge names the entry it was authorized for, which no shard knows, and is read through
  // its PaymentIntent, which names the order its capture became.
  let about = await aboutOrder(stripe, event, "charge");
  let taken = about ? await announce(about) : null;
  if (about?.fromCharge && !taken?.known) {
    about = await aboutOrder(stripe, event, "intent");
    taken = about ? await announce(about) : null;
  }
  if (!about || !taken) {
    logEvent("info", "stripe event not about one of our orders; acknowledged", {
      id: event.id,
      type: event.type,
    });
    return null;
  }
  if (!taken.known && about.drawn && about.detail) {
    // A hold captured into an order a draw has not recorded yet (it is, within seconds): a refund or
    // dispute must not be lost, so Stripe is asked to send it again. News of the charge alone adds
    // nothing the order will not be recorded with.
    throw new AppError("service_unavailable", {
      detail: `The order ${about.orderId} this charge became is being recorded; retry later`,
      headers: { "Retry-After": "60" },
    });
  }
  return { ...taken, orderId: about.orderId };
}

/**
 * The order a PaymentIntent is about. An order's own payment carries its id in the metadata. A hold
 * (`capture_method: manual`: a draw's entry) names an order only once captured, when the capture wrote
 * the order's id over the entry's and kept the entry as `hold_owner`; before that (and for a hold
 * released uncaptured) it is nobody's order.
 */
function orderOfIntent(intent: {
  capture_method?: string;
  metadata?: Record<string, string> | null;
}): { orderId: string; drawn: boolean } | null {
  const orderId = OrderId.safeParse(intent.metadata?.order_id);
  if (!orderId.success) return null;
  if (intent.capture_method !== "manual") return { orderId: orderId.data, drawn: false };
  const owner = intent.metadata?.hold_owner;
  return owner && owner !== orderId.data ? { orderId: orderId.data, drawn: true } : null;
}

type About = { orderId: string; drawn: boolean; fromCharge?: true; detail?: GatewayEventDetail };

/**
 * Which order an event is about, and what it adds. A PaymentIntent's event carries the intent. A
 * charge names an order in its own metadata (`from: "charge"`, taken as is), but that is a copy Stripe
 * made when the intent was confirmed and never updates, so a draw's charge still names the entry
 * after its hold became an order: then (`from: "intent"`), as for a dispute, which carries no
 * metadata, its PaymentIntent is read from Stripe (refunds and disputes are rare, so one call each
 * costs nothing). A charge never captured (a hold released: Stripe reports it `charge.refunded`) is
 * no order's.
 */
async function aboutOrder(
  stripe: Stripe,
  event: Stripe.Event,
  from: "charge" | "intent",
): Promise<About | null> {
  const object = event.data.object as {
    object?: string;
    captured?: boolean;
    capture_method?: string;
    metadata?: Record<string, string> | null;
    payment_intent?: string | { id: string } | null;
  };
  if (object.object === "charge" && object.captured === false) return null;
  const intentOf = async (): Promise<{ orderId: string; drawn: boolean; fromCharge?: true } | null> => {
    if (object.object !== "charge" && object.object !== "dispute") return orderOfIntent(object);
    const own = OrderId.safeParse(object.metadata?.order_id);
    if (from === "charge" && object.object === "charge" && own.success)
      return { orderId: own.data, drawn: false, fromCharge: true };
    const intent =
      typeof object.payment_intent === "string" ? object.payment_intent : object.payment_intent?.id;
    if (!intent) return orderOfIntent({ metadata: object.metadata });
    const found = await stripe.paymentIntents.retrieve(intent).catch((error: unknown) => {
      // Stripe sends the event again later: nothing is lost by a 503 now.
      throw new AppError("service_unavailable", {
        detail: "Stripe could not be asked which order this event is about; retry later",
        headers: { "Retry-After": "60" },
        cause: error,
      });
    });
    return orderOfIntent(found);
  };
  const order = await intentOf();
  if (!order) return null;
  if (object.object === "charge") {
    const charge = event.data.object as Stripe.Charge;
    return {
      ...order,
      detail: { refunded: { amount: charge.amount_refunded, currency: charge.currency.toUpperCase() } },
    };
  }
  if (object.object === "dispute") {
    const dispute = event.data.object as Stripe.Dispute;
    return {
      ...order,
      detail: {
        dispute: {
          id: dispute.id,
          status: dispute.status,
          reason: dispute.reason,
          amount: dispute.amount,
          currency: dispute.currency.toUpperCase(),
        },
      },
    };
  }
  return order;
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
      {
        status: 503,
        description:
          "webhooks_not_configured, or service_unavailable: Stripe could not be asked, or the order a draw's charge became is not recorded yet (Retry-After)",
      },
    ),
  },
});

export const webhookRoutes = createRouter().openapi(stripeWebhookRoute, async (c) => {
  const answer = await receiveStripeEvent(c.env, await c.req.text(), c.req.header("Stripe-Signature"));
  return c.json(answer, 200);
});
