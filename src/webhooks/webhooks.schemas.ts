import { z } from "@hono/zod-openapi";
import { EVENT_TYPES, ShopEvent } from "../orders/protocol";
import { singleLine } from "../shared/text";
import { receiverRefusal } from "./receiver-url";

export const EndpointId = z
  .string()
  .regex(/^we_[0-9A-HJKMNP-TV-Z]{26}$/, "Not an endpoint id")
  .openapi({ example: "we_01JD3Q8Z9N0Y4W6B7C2D5E8F1G" });
export const DeadLetterId = z
  .string()
  .regex(/^wdl_[0-9A-HJKMNP-TV-Z]{26}$/, "Not a dead letter id")
  .openapi({ example: "wdl_01JD3Q8Z9N0Y4W6B7C2D5E8F1G" });

/** zod runs every check, even after `url()` failed, so these must not assume a URL. */
const urlOf = (text: string) => (URL.canParse(text) ? new URL(text) : null);

/**
 * https to a public host; plain http only for a receiver on the same machine, which the routes
 * allow in local development alone (see receiver-url.ts).
 */
const EndpointUrl = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .superRefine((text, context) => {
    const url = urlOf(text);
    const refusal = url ? receiverRefusal(url, { local: true }) : null;
    if (refusal) context.addIssue({ code: "custom", message: refusal });
  })
  .refine((text) => {
    const url = urlOf(text);
    return !url || (url.username === "" && url.password === "");
  }, "Must not carry credentials: the URL is shown in listings; authenticate by the signature")
  .openapi({ example: "https://shop.example/hooks/stampede" });

const Subscription = z.enum([...EVENT_TYPES, "*"]);

/** A non-empty set of event types, or `["*"]` for every type, including ones added later. */
const Subscriptions = z
  .array(Subscription)
  .min(1)
  .max(EVENT_TYPES.length)
  .refine((events) => new Set(events).size === events.length, "Each event type once")
  .refine((events) => !events.includes("*") || events.length === 1, '"*" stands alone')
  .openapi({
    description: 'Event types to receive; `["*"]` for all, including types added later',
    example: ["order.paid", "order.refunded"],
  });
export type Subscriptions = z.infer<typeof Subscriptions>;

const Description = singleLine(200).openapi({ example: "Fulfilment service" });

export const CreateEndpoint = z
  .object({
    url: EndpointUrl,
    events: Subscriptions,
    description: Description.optional(),
    enabled: z.boolean().default(true),
  })
  .strict()
  .openapi("CreateWebhookEndpoint");
export type CreateEndpoint = z.infer<typeof CreateEndpoint>;

export const UpdateEndpoint = z
  .object({
    url: EndpointUrl.optional(),
    events: Subscriptions.optional(),
    description: Description.nullable().optional().openapi({ description: "null clears it" }),
    enabled: z.boolean().optional(),
  })
  .strict()
  .refine((patch) => Object.keys(patch).length > 0, "Name at least one field to change")
  .openapi("UpdateWebhookEndpoint");
export type UpdateEndpoint = z.infer<typeof UpdateEndpoint>;

export const RotateSecret = z
  .object({
    graceSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .default(86_400)
      .openapi({
        description:
          "How long deliveries are signed with the previous secret too (a second v1 signature); 0 revokes it now",
      }),
  })
  .strict()
  .openapi("RotateWebhookSecret");

export const Endpoint = z
  .object({
    id: EndpointId,
    url: z.string(),
    events: z.array(Subscription),
    description: z.string().nullable(),
    enabled: z.boolean(),
    secretHint: z.string().openapi({ description: "The secret's last 4 characters", example: "…x9Qa" }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("WebhookEndpoint");
export type Endpoint = z.infer<typeof Endpoint>;

export const EndpointWithSecret = Endpoint.extend({
  secret: z.string().openapi({
    description: "The signing secret (whsec_...): shown in this answer only, keep it safe",
    example: "whsec_3q2-7wAbCdEfGhIjKlMnOpQrStUvWxYz0123456789A",
  }),
}).openapi("WebhookEndpointWithSecret");
export type EndpointWithSecret = z.infer<typeof EndpointWithSecret>;

export const EndpointParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const DEAD_LETTER_STATES = ["dead", "redelivering", "delivered"] as const;

export const DeadLetter = z
  .object({
    id: DeadLetterId,
    endpointId: EndpointId,
    state: z.enum(DEAD_LETTER_STATES).openapi({
      description:
        "dead: retries ran out; redelivering: a redelivery is under way; delivered: it then went through",
    }),
    event: ShopEvent,
    attempts: z.number().int().openapi({ description: "Delivery attempts made before it was given up" }),
    lastStatus: z.number().int().nullable().openapi({ description: "HTTP status of the last attempt" }),
    lastError: z.string().nullable(),
    firstAttemptAt: z.iso.datetime(),
    deadAt: z.iso.datetime(),
    redeliveredAt: z.iso.datetime().nullable(),
    deliveredAt: z.iso.datetime().nullable(),
  })
  .openapi("WebhookDeadLetter");
export type DeadLetter = z.infer<typeof DeadLetter>;

export const DeadLetterQuery = z.object({
  endpointId: EndpointId.optional(),
  state: z.enum(DEAD_LETTER_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
});

export const DeadLetterPage = z
  .object({ items: z.array(DeadLetter), nextCursor: z.string().nullable() })
  .openapi("WebhookDeadLetterPage");

export const DeadLetterParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});
