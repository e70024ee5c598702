import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { ShopEvent } from "../orders/protocol";
import { decodeCursor, encodeCursor } from "../shared/cursor";
import { problems } from "../shared/problem";
import { checkReceiverHere } from "./receiver-url";
import {
  CreateEndpoint,
  DeadLetter,
  DeadLetterId,
  DeadLetterPage,
  DeadLetterParams,
  DeadLetterQuery,
  Endpoint,
  EndpointParams,
  EndpointWithSecret,
  RotateSecret,
  UpdateEndpoint,
} from "./webhooks.schemas";
import {
  createEndpoint,
  deleteEndpoint,
  getEndpoint,
  redeliver,
  registry,
  rotateSecret,
  updateEndpoint,
} from "./webhooks.service";

const security = [{ adminToken: [] }];
const tags = ["Webhooks"];
const unauthorized = { status: 401, description: "Missing or wrong admin token" };
const noEndpoint = { status: 404, description: "No such endpoint (code webhook_endpoint_not_found)" };
const invalid = { status: 400, description: "Invalid body or parameters (code validation_failed)" };
const json = <T>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const createEndpointRoute = createRoute({
  method: "post",
  path: "/webhooks/endpoints",
  operationId: "createWebhookEndpoint",
  tags,
  summary: "Register an endpoint for order events; the answer shows its signing secret, once",
  security,
  request: { body: { required: true, content: { "application/json": { schema: CreateEndpoint } } } },
  responses: {
    201: {
      ...json(EndpointWithSecret, "Registered; keep the secret, it is not shown again"),
      headers: z.object({ Location: z.string() }),
    },
    ...problems(invalid, unauthorized, {
      status: 409,
      description: "As many endpoints as a shop may have (code webhook_endpoint_limit)",
    }),
  },
});

const listEndpointsRoute = createRoute({
  method: "get",
  path: "/webhooks/endpoints",
  operationId: "listWebhookEndpoints",
  tags,
  summary: "The shop's webhook endpoints (without their secrets)",
  security,
  responses: {
    200: json(z.object({ items: z.array(Endpoint) }), "Every endpoint, oldest first"),
    ...problems(unauthorized),
  },
});

const getEndpointRoute = createRoute({
  method: "get",
  path: "/webhooks/endpoints/{id}",
  operationId: "getWebhookEndpoint",
  tags,
  summary: "One webhook endpoint (without its secret)",
  security,
  request: { params: EndpointParams },
  responses: { 200: json(Endpoint, "The endpoint"), ...problems(unauthorized, noEndpoint) },
});

const updateEndpointRoute = createRoute({
  method: "patch",
  path: "/webhooks/endpoints/{id}",
  operationId: "updateWebhookEndpoint",
  tags,
  summary: "Change an endpoint's URL, events or description, or disable it (a disabled one gets nothing)",
  security,
  request: {
    params: EndpointParams,
    body: { required: true, content: { "application/json": { schema: UpdateEndpoint } } },
  },
  responses: {
    200: json(Endpoint, "The endpoint as changed"),
    ...problems(invalid, unauthorized, noEndpoint),
  },
});

const deleteEndpointRoute = createRoute({
  method: "delete",
  path: "/webhooks/endpoints/{id}",
  operationId: "deleteWebhookEndpoint",
  tags,
  summary: "Delete an endpoint with its dead letters; deliveries still owed to it are dropped",
  security,
  request: { params: EndpointParams },
  responses: { 204: { description: "Deleted" }, ...problems(unauthorized, noEndpoint) },
});

const rotateSecretRoute = createRoute({
  method: "post",
  path: "/webhooks/endpoints/{id}/rotate-secret",
  operationId: "rotateWebhookSecret",
  tags,
  summary: "Give an endpoint a new signing secret, shown once; the old one keeps signing for a grace period",
  security,
  request: {
    params: EndpointParams,
    body: { required: false, content: { "application/json": { schema: RotateSecret } } },
  },
  responses: {
    200: json(EndpointWithSecret, "The new secret; until the grace period ends, deliveries carry two v1"),
    ...problems(invalid, unauthorized, noEndpoint),
  },
});

const listDeadLettersRoute = createRoute({
  method: "get",
  path: "/webhooks/dead-letters",
  operationId: "listWebhookDeadLetters",
  tags,
  summary: "Deliveries given up on after a day of retries, newest first (kept 30 days)",
  security,
  request: { query: DeadLetterQuery },
  responses: {
    200: json(DeadLetterPage, "A page of dead letters"),
    ...problems({ status: 400, description: "Invalid query or cursor" }, unauthorized),
  },
});

const redeliverRoute = createRoute({
  method: "post",
  path: "/webhooks/dead-letters/{id}/redeliver",
  operationId: "redeliverWebhook",
  tags,
  summary: "Send a dead letter's event again, with a new day of retries; asking twice starts one",
  security,
  request: { params: DeadLetterParams },
  responses: {
    202: json(
      z.object({
        deadLetter: DeadLetter,
        started: z
          .boolean()
          .openapi({ description: "false: a redelivery of this letter was already under way" }),
      }),
      "Queued (or already under way)",
    ),
    ...problems(
      unauthorized,
      { status: 404, description: "No such dead letter (code webhook_dead_letter_not_found)" },
      { status: 409, description: "Its endpoint is disabled (code webhook_endpoint_disabled)" },
      { status: 503, description: "The redelivery could not be queued; retry" },
    ),
  },
});

const Cursor = z.object({ before: DeadLetterId }).strict();

export const webhookAdminRoutes = createRouter()
  .openapi(createEndpointRoute, async (c) => {
    checkReceiverHere(c.env, c.req.valid("json").url);
    const endpoint = await createEndpoint(c.env, c.req.valid("json"));
    return c.json(endpoint, 201, { Location: `/v1/admin/webhooks/endpoints/${endpoint.id}` });
  })
  .openapi(listEndpointsRoute, async (c) => c.json({ items: await registry(c.env).list() }, 200))
  .openapi(getEndpointRoute, async (c) => c.json(await getEndpoint(c.env, c.req.valid("param").id), 200))
  .openapi(updateEndpointRoute, async (c) => {
    checkReceiverHere(c.env, c.req.valid("json").url);
    return c.json(await updateEndpoint(c.env, c.req.valid("param").id, c.req.valid("json")), 200);
  })
  .openapi(deleteEndpointRoute, async (c) => {
    await deleteEndpoint(c.env, c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(rotateSecretRoute, async (c) => {
    // The body is optional: without one, the default grace period applies.
    const { graceSeconds } = RotateSecret.parse(c.req.valid("json"));
    return c.json(await rotateSecret(c.env, c.req.valid("param").id, graceSeconds), 200);
  })
  .openapi(listDeadLettersRoute, async (c) => {
    const { endpointId, state, limit, cursor } = c.req.valid("query");
    const beforeId = cursor ? decodeCursor(cursor, Cursor).before : undefined;
    const letters = await registry(c.env).deadLetters({
      limit: limit + 1,
      ...(endpointId ? { endpointId } : {}),
      ...(state ? { state } : {}),
      ...(beforeId ? { beforeId } : {}),
    });
    const items = letters.slice(0, limit);
    const last = items.at(-1);
    const nextCursor = letters.length > limit && last ? encodeCursor({ before: last.id }) : null;
    return c.json({ items, nextCursor }, 200);
  })
  .openapi(redeliverRoute, async (c) => c.json(await redeliver(c.env, c.req.valid("param").id), 202));

/**
 * What Stampede sends to a registered endpoint, for the OpenAPI document's `webhooks` section: the
 * receiver's side of the contract.
 */
export const orderEventWebhook = {
  method: "post" as const,
  path: "orderEvent",
  operationId: "receiveOrderEvent",
  tags,
  summary: "An order event, POSTed to each enabled endpoint subscribed to its type",
  // The receiver authenticates it by the signature over the body.
  security: [],
  description:
    "Delivered at least once: deduplicate by Stampede-Event-Id. Verify Stampede-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of `<t>.<raw body>` keyed with the endpoint's secret>; one v1 per valid secret) over the raw body before parsing it. Answer 2xx within 10 s; anything else is retried with exponential backoff for a day, then dead-lettered.",
  request: {
    headers: z.object({
      "stampede-event-id": z.string().openapi({ description: "The event's id, the same on every delivery" }),
      "stampede-event-type": z.string(),
      "stampede-delivery-attempt": z.string().openapi({ description: "1 for the first attempt" }),
      "stampede-signature": z.string().openapi({
        example: "t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
      }),
    }),
    body: { required: true, content: { "application/json": { schema: ShopEvent } } },
  },
  responses: {
    200: { description: "Any 2xx: delivered" },
    500: { description: "Anything else, a redirect or no answer within 10 s: retried later" },
  },
};
