import { z } from "@hono/zod-openapi";
import { ORDER_STATUSES, PAYMENT_STATUSES } from "../db/schema";
import { Money } from "../shared/money";
import { singleLine } from "../shared/text";

const OrderStatus = z.enum(ORDER_STATUSES);

export const Address = z
  .object({
    name: singleLine(200).optional(),
    line1: singleLine(200),
    line2: singleLine(200, 0).optional(),
    city: singleLine(100),
    region: singleLine(100, 0).optional(),
    postalCode: singleLine(20),
    country: z.string().regex(/^[A-Z]{2}$/, "ISO 3166-1 alpha-2 code such as US"),
  })
  .strict()
  .openapi("Address");

const LineQuantity = z.object({ sku: z.string(), quantity: z.number().int() });

export const Refund = z
  .object({
    id: z.string(),
    amount: Money,
    lines: z.array(LineQuantity).optional(),
    restocked: z.boolean().openapi({ description: "Its units are back in stock" }),
    restock: z.boolean().openapi({ description: "Its units go back to stock once the money is refunded" }),
    status: z.enum(["pending", "succeeded", "failed"]).openapi({
      description: "pending: the gateway is being asked (retried until it answers); failed: it refused",
    }),
    reason: z.string().optional(),
    failure: z.string().optional(),
    cancel: z.boolean().openapi({ description: "Made by cancelling the order" }),
    createdAt: z.iso.datetime(),
  })
  .openapi("Refund");

export const Fulfillment = z
  .object({
    id: z.string(),
    lines: z.array(LineQuantity),
    carrier: z.string(),
    trackingNumber: z.string(),
    trackingUrl: z.string().optional(),
    createdAt: z.iso.datetime(),
  })
  .openapi("Fulfillment");

export const FULFILLMENT_STATUSES = ["unfulfilled", "partially_fulfilled", "fulfilled"] as const;

const TimelineEntry = z.object({
  at: z.iso.datetime(),
  event: z
    .string()
    .openapi({ description: "created, paid, payment_failed, refund_requested, refunded, ..." }),
  detail: z.string().optional(),
});

/** An order's money broken down; see the README's "Money" for how each part is rounded. */
export const Totals = z
  .object({
    subtotal: Money.openapi({ description: "The lines at their catalog prices" }),
    discount: Money.openapi({ description: "Taken off by the discount code (lines and shipping)" }),
    shipping: Money.openapi({ description: "Shipping at its rate, before any discount" }),
    tax: Money.openapi({ description: "Tax: included in the amounts above when taxIncluded, else added" }),
    total: Money.openapi({ description: "What is charged; equals the top-level total" }),
    taxIncluded: z.boolean().optional().openapi({ description: "Prices include tax (set once priced)" }),
  })
  .openapi("Totals");

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
    shippingAddress: Address.optional().openapi({ description: "As the buyer sent it" }),
    totals: Totals,
    shippingMethod: z
      .object({ id: z.string(), name: z.string() })
      .optional()
      .openapi({ description: "The shipping method chosen at checkout" }),
    discountCode: z.string().optional().openapi({ description: "The discount code applied at checkout" }),
    refunds: z.array(Refund),
    fulfillmentStatus: z.enum(FULFILLMENT_STATUSES),
    fulfillments: z.array(Fulfillment),
    cancelledAt: z.iso.datetime().optional().openapi({
      description: "A paid order the shop cancelled before it shipped: refunded in full, never ships",
    }),
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
    timeline: z
      .array(TimelineEntry)
      .optional()
      .openapi({ description: "What happened to the order, oldest first (the admin's order detail)" }),
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
  fulfillment: z.enum(FULFILLMENT_STATUSES).optional(),
  email: z.string().min(1).max(254).optional(),
  sku: z.string().min(1).max(64).optional(),
  q: z.string().min(1).max(254).optional().openapi({ description: "An order id, or an email" }),
  since: z.iso.datetime().optional().openapi({ description: "Orders created at or after" }),
  until: z.iso.datetime().optional().openapi({ description: "Orders created before" }),
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
