import { createRoute, z } from "@hono/zod-openapi";
import { Sku } from "../catalog/catalog.schemas";
import { listEmails, redeliverEmail } from "../email/email.service";
import { parseIdempotencyKey } from "../http/idempotency-key";
import { createRouter } from "../http/router";
import {
  adminOrder,
  cancelByShop,
  exportOrders,
  FULFILLMENT_STATUSES,
  Fulfillment,
  fulfilOrder,
  importFulfillments,
  Order,
  OrderParams,
  Refund,
  refundOrder,
} from "../orders/protocol";
import { AppError } from "../shared/errors";
import { Money } from "../shared/money";
import { problems } from "../shared/problem";
import { singleLine } from "../shared/text";

const security = [{ adminToken: [] }];
const unauthorized = { status: 401, description: "Missing or wrong admin token" } as const;
const notFound = { status: 404, description: "No such order (order_not_found)" } as const;

const LineQuantity = z.object({ sku: Sku, quantity: z.number().int().min(1).max(1000) }).strict();

const RefundBody = z
  .object({
    amount: Money.refine((money) => money.amount >= 1, "A refund is at least 1 minor unit")
      .optional()
      .openapi({ description: "Refund this much (in the order's currency)" }),
    lines: z.array(LineQuantity).min(1).max(50).optional().openapi({
      description: "Refund these units (at the price paid); with `amount` too, `amount` is refunded",
    }),
    restock: z.boolean().openapi({
      description:
        "Put the refunded lines' units back in stock (with neither amount nor lines: every unit not refunded yet)",
    }),
    reason: singleLine(500).optional(),
  })
  .strict()
  .refine((body) => !(body.restock && body.amount && !body.lines), {
    message: "Say which lines go back to stock: restock with an amount needs lines",
    path: ["restock"],
  })
  .openapi("RefundRequest");

const FulfillmentBody = z
  .object({
    lines: z
      .array(LineQuantity)
      .min(1)
      .max(50)
      .optional()
      .openapi({ description: "Default: everything left to ship" }),
    carrier: singleLine(100),
    trackingNumber: singleLine(100),
    trackingUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional(),
  })
  .strict()
  .openapi("FulfillmentRequest");

const getRoute = createRoute({
  method: "get",
  path: "/orders/{id}",
  operationId: "getAdminOrder",
  tags: ["Admin"],
  summary: "An order with everything about it: lines, address, money, refunds, fulfilments, timeline",
  security,
  request: { params: OrderParams },
  responses: {
    200: { description: "The order, from its shard", content: { "application/json": { schema: Order } } },
    ...problems(unauthorized, notFound),
  },
});

const refundRoute = createRoute({
  method: "post",
  path: "/orders/{id}/refunds",
  operationId: "refundOrder",
  tags: ["Admin"],
  summary: "Refund a paid order: an amount, lines (optionally back to stock), or all that is left",
  description:
    "Needs an Idempotency-Key: the same key and body answer the same refund (Idempotent-Replayed: true). The refund is recorded first and made at the gateway under its own key, retried until the gateway answers: `status` is `pending` until then. Two refunds that together exceed the charge cannot both be made: the later is refused.",
  security,
  request: {
    params: OrderParams,
    headers: z.object({ "idempotency-key": z.string().optional() }),
    body: { content: { "application/json": { schema: RefundBody } } },
  },
  responses: {
    201: { description: "The refund", content: { "application/json": { schema: Refund } } },
    ...problems(
      { status: 400, description: "Invalid body, or no Idempotency-Key" },
      unauthorized,
      notFound,
      {
        status: 409,
        description: "More than is left (refund_exceeds_captured), or not paid (order_not_refundable)",
      },
      { status: 422, description: "The key was used for another refund (idempotency_key_mismatch)" },
    ),
  },
});

const cancelRoute = createRoute({
  method: "post",
  path: "/orders/{id}/cancel",
  operationId: "cancelOrderByShop",
  tags: ["Admin"],
  summary:
    "Cancel an order: unpaid as the buyer would; paid and not shipped: refund in full, every unit back",
  security,
  request: { params: OrderParams },
  responses: {
    200: { description: "The order as it is now", content: { "application/json": { schema: Order } } },
    ...problems(unauthorized, notFound, {
      status: 409,
      description: "Shipped already, failed, or refunded in full (order_not_cancellable)",
    }),
  },
});

const fulfilRoute = createRoute({
  method: "post",
  path: "/orders/{id}/fulfillments",
  operationId: "fulfilOrder",
  tags: ["Admin"],
  summary: "Ship lines of a paid order (default: everything left), with carrier and tracking",
  description:
    "A fulfilment with the same carrier and tracking number on the same order is the one already made: it is answered again (Idempotent-Replayed: true), not made twice.",
  security,
  request: { params: OrderParams, body: { content: { "application/json": { schema: FulfillmentBody } } } },
  responses: {
    201: { description: "The fulfilment", content: { "application/json": { schema: Fulfillment } } },
    ...problems({ status: 400, description: "Invalid body" }, unauthorized, notFound, {
      status: 409,
      description: "Not paid, cancelled, or lines beyond what is left (order_not_fulfillable)",
    }),
  },
});

const ImportReport = z
  .object({
    dryRun: z.boolean(),
    made: z.number().int(),
    wouldMake: z.number().int(),
    replayed: z.number().int().openapi({ description: "Rows already applied before: changed nothing" }),
    refused: z.number().int(),
    rows: z.array(
      z.object({
        row: z.number().int().openapi({ description: "Line of the file (the header is line 1)" }),
        orderId: z.string(),
        outcome: z.enum(["made", "would_make", "replayed", "refused", "not_found", "invalid", "rolled_back"]),
        detail: z.string().optional(),
        fulfillmentId: z.string().optional(),
      }),
    ),
  })
  .openapi("FulfillmentImportReport");

const importRoute = createRoute({
  method: "post",
  path: "/fulfillments/import",
  operationId: "importFulfillments",
  tags: ["Admin"],
  summary: "Fulfil many orders from a CSV: every row checked before any write, applied idempotently",
  description:
    "Body: text/csv (up to 4 MiB, 10,000 rows) with the header `order_id,lines,carrier,tracking_number,tracking_url`; `lines` is `all` (or empty) or `SKU:quantity` pairs separated by `;`. A file with any row that cannot be applied writes nothing and answers 422 listing every such row. Applying a file again changes nothing (each row answers `replayed`).",
  security,
  request: {
    query: z.object({
      dryRun: z
        .enum(["true", "false"])
        .optional()
        .openapi({ description: "true: check every row and report, write nothing" }),
    }),
  },
  responses: {
    200: { description: "What each row came to", content: { "application/json": { schema: ImportReport } } },
    ...problems(
      unauthorized,
      { status: 413, description: "Over 4 MiB" },
      { status: 415, description: "Not text/csv" },
      { status: 422, description: "Rows that cannot be applied, each listed (fulfillment_import_invalid)" },
    ),
  },
});

const exportRoute = createRoute({
  method: "get",
  path: "/orders/export",
  operationId: "exportOrders",
  tags: ["Admin"],
  summary: "Orders for the warehouse as CSV, one row per line with the shipping address, streamed",
  security,
  request: {
    query: z.object({
      status: z.enum(["pending_payment", "paid", "payment_failed", "cancelled"]).optional(),
      fulfillment: z.enum(FULFILLMENT_STATUSES).optional(),
      since: z.iso.datetime().optional().openapi({ description: "Orders created at or after" }),
    }),
  },
  responses: {
    200: { description: "CSV (RFC 4180)", content: { "text/csv": { schema: z.string() } } },
    ...problems({ status: 400, description: "Invalid query" }, unauthorized),
  },
});

const StoredEmail = z
  .object({
    id: z.string(),
    to: z.string(),
    from: z.string(),
    subject: z.string(),
    event: z.string(),
    orderId: z.string(),
    status: z.enum(["queued", "sending", "sent", "dead"]),
    attempts: z.number().int(),
    messageId: z.string(),
    sentAt: z.string().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    text: z.string(),
    html: z.string(),
  })
  .openapi("Email");

const emailsRoute = createRoute({
  method: "get",
  path: "/emails",
  operationId: "listEmails",
  tags: ["Admin"],
  summary: "The emails the shop sent or is sending (locally: its inbox), newest first",
  security,
  request: {
    query: z.object({
      to: z.string().max(254).optional(),
      orderId: z.string().max(64).optional(),
      status: z.enum(["queued", "sending", "sent", "dead"]).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
  },
  responses: {
    200: {
      description: "Emails",
      content: { "application/json": { schema: z.object({ items: z.array(StoredEmail) }) } },
    },
    ...problems({ status: 400, description: "Invalid query" }, unauthorized),
  },
});

const redeliverEmailRoute = createRoute({
  method: "post",
  path: "/emails/{id}/redeliver",
  operationId: "redeliverEmail",
  tags: ["Admin"],
  summary: "Send an email the mailer gave up on again (same Message-ID)",
  security,
  request: { params: z.object({ id: z.string().min(1).max(100) }) },
  responses: {
    202: {
      description: "Queued again, or already sent or on its way",
      content: { "application/json": { schema: z.object({ queued: z.boolean() }) } },
    },
    ...problems(unauthorized, { status: 404, description: "No such email (email_not_found)" }),
  },
});

export const adminOrderActionRoutes = createRouter()
  .openapi(exportRoute, async (c) => {
    const filter = c.req.valid("query");
    return new Response(exportOrders(c.env, filter), {
      headers: {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": `attachment; filename="orders-${new Date().toISOString().slice(0, 10)}.csv"`,
        "Cache-Control": "no-store",
      },
    }) as never;
  })
  .openapi(getRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await adminOrder(c.env, c.req.valid("param").id), 200);
  })
  .openapi(refundRoute, async (c) => {
    const key = parseIdempotencyKey(c.req.header("Idempotency-Key"), "refund");
    const { amount, ...body } = c.req.valid("json");
    const result = await refundOrder(c.env, c.req.valid("param").id, key, {
      ...body,
      ...(amount ? { amount: amount.amount, currency: amount.currency } : {}),
    });
    if (result.replayed) c.header("Idempotent-Replayed", "true");
    return c.json(result.made, 201);
  })
  .openapi(cancelRoute, async (c) => c.json((await cancelByShop(c.env, c.req.valid("param").id)).order, 200))
  .openapi(fulfilRoute, async (c) => {
    const result = await fulfilOrder(c.env, c.req.valid("param").id, c.req.valid("json"));
    if (result.replayed) c.header("Idempotent-Replayed", "true");
    return c.json(result.made, 201);
  })
  .openapi(importRoute, async (c) => {
    const type = (c.req.header("Content-Type") ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "text/csv") {
      throw new AppError("unsupported_media_type", { detail: "Send the fulfilments as text/csv" });
    }
    const report = await importFulfillments(
      c.env,
      await c.req.text(),
      c.req.valid("query").dryRun === "true",
    );
    return c.json(report, 200);
  })
  .openapi(emailsRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json({ items: await listEmails(c.env, c.req.valid("query")) }, 200);
  })
  .openapi(redeliverEmailRoute, async (c) => {
    const outcome = await redeliverEmail(c.env, c.req.valid("param").id);
    if (outcome === "not_found") throw new AppError("email_not_found", { detail: "No such email" });
    return c.json({ queued: outcome === "queued" }, 202);
  });
