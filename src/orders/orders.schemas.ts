import { z } from "@hono/zod-openapi";
import { ORDER_STATUSES, PAYMENT_STATUSES } from "../db/schema";
import { Money } from "../shared/money";

const OrderStatus = z.enum(ORDER_STATUSES);

export const Order = z
  .object({
    id: z.string(),
    status: OrderStatus,
    failureReason: z
      .string()
      .optional()
      .openapi({ description: "Why a payment_failed or cancelled order ended so" }),
    items: z.array(
      z.object({ sku: z.string(), quantity: z.number().int(), unitPrice: Money, title: z.string() }),
    ),
    total: Money,
    customer: z.object({ email: z.string(), name: z.string().optional() }),
    payment: z.object({
      status: z.enum(PAYMENT_STATUSES).openapi({
        description:
          "requires_action: the buyer must complete payment.nextAction (3-D Secure); processing: the gateway settles it later; not_charged: cancelled before any charge; refunded: charged, then given back in full",
      }),
      attempts: z.number().int(),
      refunded: Money.optional().openapi({ description: "Refunded so far, when anything was" }),
      dispute: z
        .object({ id: z.string(), status: z.string(), reason: z.string(), amount: Money })
        .optional()
        .openapi({ description: "A dispute (chargeback) on the charge, as the gateway last told it" }),
      nextAction: z
        .discriminatedUnion("type", [
          z.object({ type: z.literal("use_stripe_sdk"), clientSecret: z.string() }),
          z.object({ type: z.literal("redirect_to_url"), url: z.string() }),
        ])
        .optional()
        .openapi({
          description:
            "Only for the order token's holder, while status is requires_action: complete it with Stripe.js handleNextAction(clientSecret), or open the URL (the simulator's challenge)",
        }),
      actionExpiresAt: z.iso
        .datetime()
        .optional()
        .openapi({ description: "After this the payment is withdrawn and the order fails" }),
    }),
    holdExpiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Order");

export const OrderParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const OrderListQuery = z.object({
  status: OrderStatus.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
});

export const OrderPage = z
  .object({ items: z.array(Order), nextCursor: z.string().nullable() })
  .openapi("OrderPage");

export type Order = z.infer<typeof Order>;

/** What the order shards still owe, summed over them (the ops page's intake figures). */
export const IntakeCounts = z
  .object({
    owed: z.number(),
    overdue: z.number(),
    unprojected: z.number(),
    claimsInFlight: z.number(),
    releasesOwed: z.number(),
  })
  .openapi({
    description: "From the order shards: orders owing work, overdue by a minute, not yet in D1; open claims",
  });
