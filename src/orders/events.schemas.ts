import { z } from "@hono/zod-openapi";
import { Fulfillment, Order, Refund } from "./orders.schemas";

/**
 * The events the order loop publishes about its orders, one written with each change that causes it
 * (the shard's outbox): what the webhooks deliver to the shop's endpoints, each subscribed to types.
 */
export const EVENT_TYPES = [
  "order.created",
  "order.paid",
  "order.payment_failed",
  "order.cancelled",
  "order.refunded",
  "order.partially_fulfilled",
  "order.fulfilled",
] as const;

export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;

const EventId = z
  .string()
  .regex(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/)
  .openapi({ example: "evt_01JD3Q8Z9N0Y4W6B7C2D5E8F1G" });

/** An order event as it is published, and POSTed to an endpoint byte for byte as its signature covers. */
export const OrderEvent = z
  .object({
    id: EventId.openapi({ description: "Stable across retries and redeliveries: deduplicate by it" }),
    type: EventType,
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
  .openapi("WebhookEvent");
export type OrderEvent = z.infer<typeof OrderEvent>;
