import { z } from "zod";
import { ShopEvent } from "../orders/protocol";
import { DEAD_LETTER_STATES, DeadLetterId, EndpointId } from "./webhooks.schemas";

/**
 * What crosses into the registry object and through the webhooks queue, checked where it arrives:
 * neither trusts its sender.
 */

/**
 * An event checked against its schema but kept as it came, so a retry or a redelivery sends the very
 * body the first attempt sent, whatever fields a newer sender added.
 */
const CheckedEvent = z.custom<ShopEvent>(
  (value) => ShopEvent.safeParse(value).success,
  "Not a webhook event",
);

/** Epoch milliseconds. */
const Millis = z.number().int().min(0).max(8_640_000_000_000_000);

/** A shard's events of a moment, for every endpoint subscribed to them. Each event is checked alone. */
const FanOutMessage = z.object({ events: z.array(z.unknown()).min(1).max(1000) }).strict();

/** One event for one endpoint: a retry, or a redelivery of a dead letter. */
export const DeliveryMessage = z
  .object({
    event: CheckedEvent,
    endpointId: EndpointId,
    /** The number of the attempt this message is for (1 for the first). */
    attempt: z.number().int().min(1).max(1000),
    /** When the first attempt of this delivery was made: retries stop a day after it. */
    firstAttemptAt: Millis,
    deadLetterId: DeadLetterId.optional(),
  })
  .strict();
export type DeliveryMessage = z.infer<typeof DeliveryMessage>;

export const WebhookMessage = z.union([FanOutMessage, DeliveryMessage]);

/** A delivery given up on: its retries ran out, or the queue gave its message up. */
export const DeadLetterRecord = z
  .object({
    endpointId: EndpointId,
    event: CheckedEvent,
    attempts: z.number().int().min(0).max(1000),
    lastStatus: z.number().int().min(0).max(999).nullable(),
    lastError: z.string().max(500).nullable(),
    firstAttemptAt: Millis,
  })
  .strict();
export type DeadLetterRecord = z.infer<typeof DeadLetterRecord>;
export const DeadLetterRecords = z.array(DeadLetterRecord).max(1000);

export const DeadLetterIds = z.array(DeadLetterId).max(1000);

export const ListDeadLettersArgs = z
  .object({
    endpointId: EndpointId.optional(),
    state: z.enum(DEAD_LETTER_STATES).optional(),
    // A page and one more, to know whether another follows.
    limit: z.number().int().min(1).max(101),
    beforeId: DeadLetterId.optional(),
  })
  .strict();
export type ListDeadLettersArgs = z.infer<typeof ListDeadLettersArgs>;
