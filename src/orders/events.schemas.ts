import { z } from "@hono/zod-openapi";
import { Fulfillment, Order, Refund } from "./orders.schemas";

/**
 * The events the order loop publishes about its orders, one written with each change that causes it
 * (the shard's outbox): what the webhooks deliver to the shop's endpoints, each subscribed to types.
 */
export const ORDER_EVENT_TYPES = [
  "order.created",
  "order.paid",
  "order.payment_failed",
  "order.cancelled",
  "order.refunded",
  "order.partially_fulfilled",
  "order.fulfilled",
] as const;

/** A draw's events about an entry: it is in the draw; it won (its order made); it lost. */
const DRAW_EVENT_TYPES = ["draw.entered", "draw.won", "draw.lost"] as const;

export const EVENT_TYPES = [...ORDER_EVENT_TYPES, ...DRAW_EVENT_TYPES] as const;

export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];

const EventId = z
  .string()
  .regex(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/)
  .openapi({ example: "evt_01JD3Q8Z9N0Y4W6B7C2D5E8F1G" });

/** An order event as it is published, and POSTed to an endpoint byte for byte as its signature covers. */
export const OrderEvent = z
  .object({
    id: EventId.openapi({ description: "Stable across retries and redeliveries: deduplicate by it" }),
    type: z.enum(ORDER_EVENT_TYPES),
    createdAt: z.iso.datetime().openapi({ description: "When the change that caused the event happened" }),
    data: z
      .object({
        order: Order,
        refund: Refund.optional().openapi({ description: "For order.refunded: the refund made" }),
        fulfillment: Fulfillment.optional().openapi({
          description: "For order.fulfilled and order.partially_fulfilled: what shipped",
        }),
      })
      .openapi({
        description:
          "`order`: the order as it was right after the change; `refund` or `fulfillment`: what the event is about",
      }),
  })
  .openapi("OrderWebhookEvent");
export type OrderEvent = z.infer<typeof OrderEvent>;

/** An entry of a draw as its events show it (no payment details, no address). */
const DrawEntry = z
  .object({
    entryId: z.string(),
    product: z.string(),
    sku: z.string(),
    email: z.string(),
    state: z.enum(["entered", "won", "lost"]),
    reason: z.string().nullable().openapi({ description: "For draw.lost: not_drawn, or capture_failed" }),
    amount: z.object({ amount: z.number().int(), currency: z.string() }).openapi({
      description:
        "What the entry authorized and a winner is charged: the unit's price with its shipping and tax, as a checkout of it would be",
    }),
    enteredAt: z.iso.datetime(),
    closesAt: z.iso.datetime(),
    orderId: z.string().optional().openapi({ description: "For draw.won: the order the unit was sold in" }),
  })
  .openapi("DrawEntryEventData");

/** A draw's event about one entry. */
export const DrawEvent = z
  .object({
    id: EventId.openapi({ description: "Stable across retries and redeliveries: deduplicate by it" }),
    type: z.enum(DRAW_EVENT_TYPES),
    createdAt: z.iso.datetime(),
    data: z.object({ entry: DrawEntry }),
  })
  .openapi("DrawWebhookEvent");
export type DrawEvent = z.infer<typeof DrawEvent>;

/** Every event the shop publishes to its webhook endpoints. */
export const ShopEvent = z.union([OrderEvent, DrawEvent]).openapi("WebhookEvent");
export type ShopEvent = z.infer<typeof ShopEvent>;
