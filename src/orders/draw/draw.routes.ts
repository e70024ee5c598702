import { createRoute, z } from "@hono/zod-openapi";
import { DropParams } from "../../drops/drops.routes";
import { parseIdempotencyKey } from "../../http/idempotency-key";
import { createRouter } from "../../http/router";
import { scopeOf } from "../../http/scope";
import { AppError } from "../../shared/errors";
import { problems } from "../../shared/problem";
import { ShippingChoice } from "../intake/checkout.schemas";
import { Address, Totals } from "../orders.schemas";
import { drawRunner } from "./draw.service";
import { enter } from "./enter";
import { drawOf, entryIdOf, readEntry, withdraw } from "./entries.service";

const EntryRequest = z
  .object({
    email: z.email().max(254),
    name: z.string().min(1).max(200).optional(),
    shippingAddress: Address.optional().openapi({
      description: "Where the unit goes if the entry wins; required for a product that ships",
    }),
    shipping: ShippingChoice.optional().openapi({
      description:
        "Where the shop has shipping zones: the method (GET /v1/shipping-methods) the unit ships by if the entry wins; required there for a product that ships, as at checkout",
    }),
    sku: z.string().min(1).max(64).openapi({ description: "The variant entered for (a size)" }),
    paymentToken: z.string().min(1).max(255).openapi({
      description:
        "The card, as the gateway's token: the entry's total (its price, with shipping and tax as a checkout of it to the address) is authorized now, captured only if the entry wins",
    }),
    turnstileToken: z.string().min(1).max(2048).optional().openapi({
      description:
        "The Turnstile widget's token (action `join`); required when the shop set TURNSTILE_SECRET",
    }),
  })
  .strict()
  .openapi("DrawEntryRequest");

const Entry = z
  .object({
    entryId: z.string(),
    product: z.string(),
    sku: z.string(),
    state: z.enum(["pending", "entered", "withdrawn", "void", "won", "lost"]).openapi({
      description:
        "entered: in the draw; pending: its authorization is not done (the buyer must act, or the gateway did not answer); withdrawn; void: it never entered; won: drawn and charged; lost: not drawn (its authorization is cancelled)",
    }),
    reason: z.string().nullable(),
    amount: z.object({ amount: z.number().int(), currency: z.string() }).openapi({
      description: "What is authorized on the card, and charged if the entry wins: totals.total",
    }),
    totals: Totals.openapi({
      description:
        "How the amount comes about, as a checkout of the unit to the address would price it (no discount code); an entry made before entries were priced: its unit price alone",
    }),
    shippingMethod: z.object({ id: z.string(), name: z.string() }).optional(),
    enteredAt: z.iso.datetime().nullable(),
    closesAt: z.iso.datetime(),
    authorizationExpiresAt: z.iso.datetime().nullable(),
    order: z
      .object({ orderId: z.string(), orderToken: z.string() })
      .optional()
      .openapi({ description: "A winner's order: read it at GET /v1/orders/{orderId} with the token" }),
  })
  .openapi("DrawEntry");

const Entered = z
  .object({
    entry: Entry,
    entryToken: z.string().openapi({
      description: "Bearer token for GET and DELETE /v1/drops/{product}/draw/entry; shown again on a replay",
    }),
    action: z
      .object({ type: z.string(), url: z.string().optional(), clientSecret: z.string().optional() })
      .optional()
      .openapi({
        description: "With 202: what the buyer must do (3-D Secure); then send the same request again",
      }),
  })
  .openapi("DrawEntered");

const entryAuth = [{ drawEntry: [] }];

const enterRoute = createRoute({
  method: "post",
  path: "/drops/{product}/draw/entries",
  operationId: "enterDraw",
  tags: ["Draws"],
  summary: "Enter a draw: the price is authorized on the card now and captured only if the entry wins",
  security: [],
  request: {
    params: DropParams,
    headers: z.object({
      "idempotency-key": z
        .string()
        .optional()
        .openapi({ param: { name: "idempotency-key", in: "header", required: true } }),
    }),
    body: { required: true, content: { "application/json": { schema: EntryRequest } } },
  },
  responses: {
    201: { description: "Entered", content: { "application/json": { schema: Entered } } },
    200: {
      description: "The entry this key made before, as it stands",
      content: { "application/json": { schema: Entered } },
    },
    202: {
      description: "The card holder must act (3-D Secure) before the entry is in; then repeat the request",
      content: { "application/json": { schema: Entered } },
    },
    ...problems(
      {
        status: 400,
        description:
          "Invalid body or Idempotency-Key; a shipping method missing or not offered for the address (validation_failed, as checkout answers it)",
      },
      { status: 402, description: "payment_declined: the card refused the authorization; nothing is held" },
      { status: 403, description: "turnstile_required, turnstile_failed" },
      { status: 404, description: "draw_not_found" },
      {
        status: 409,
        description:
          "draw_not_open (Retry-After), draw_closed, draw_already_entered (one entry per customer), draw_card_used (one entry per card)",
      },
      {
        status: 422,
        description:
          "draw_sku_not_drawn, payment_token_invalid, idempotency_key_mismatch; shipping_unavailable (the shop does not ship to the address) and amount_below_minimum, as checkout answers them: nothing is entered or held",
      },
      { status: 429, description: "rate_limited (Retry-After)" },
      {
        status: 503,
        description:
          "service_unavailable (the gateway, the entries or the pricing settings could not be reached: repeat with the same key), payments_not_configured, draw_not_configured; Retry-After",
      },
    ),
  },
});

const readRoute = createRoute({
  method: "get",
  path: "/drops/{product}/draw/entry",
  operationId: "getDrawEntry",
  tags: ["Draws"],
  summary: "One's entry in a draw, by its entry token",
  security: entryAuth,
  request: { params: DropParams },
  responses: {
    200: { description: "The entry", content: { "application/json": { schema: Entry } } },
    ...problems(
      { status: 403, description: "draw_entry_token_invalid" },
      { status: 404, description: "draw_not_found, draw_entry_not_found" },
    ),
  },
});

const withdrawRoute = createRoute({
  method: "delete",
  path: "/drops/{product}/draw/entry",
  operationId: "withdrawDrawEntry",
  tags: ["Draws"],
  summary: "Withdraw one's entry before the close: it leaves the draw and its authorization is cancelled",
  security: entryAuth,
  request: { params: DropParams },
  responses: {
    200: { description: "Withdrawn (again: the same)", content: { "application/json": { schema: Entry } } },
    ...problems(
      { status: 403, description: "draw_entry_token_invalid" },
      { status: 404, description: "draw_not_found, draw_entry_not_found (or it never entered)" },
      { status: 409, description: "draw_closed: the draw stands as frozen" },
    ),
  },
});

const Digest = z.object({ root: z.string(), count: z.number().int() });

const ProofRecord = z
  .object({
    drop: z.string(),
    opensAt: z.iso.datetime(),
    closesAt: z.iso.datetime(),
    commitment: z.string().openapi({ description: "SHA-256 of the secret seed, published before the open" }),
    beacon: z.object({ chain: z.string(), round: z.number().int() }).optional(),
    state: z.enum(["open", "closed", "revealed", "drawn"]),
    entryDigest: Digest.optional().openapi({
      description: "From the close: the frozen entry list's RFC 6962 root",
    }),
    unitsBySku: z.record(z.string(), z.number().int()).optional(),
    seed: z.string().optional().openapi({ description: "From the reveal" }),
    beaconRandomness: z.string().optional(),
    winners: z
      .array(z.string())
      .optional()
      .openapi({ description: "Once drawn: winners' entry ids in rank order" }),
    passedOn: z.array(z.string()).optional().openapi({
      description: "Once drawn: entries ranked to win whose capture failed, so their unit went to the next",
    }),
  })
  .openapi("DrawProof");

const proofRoute = createRoute({
  method: "get",
  path: "/drops/{product}/draw/proof",
  operationId: "getDrawProof",
  tags: ["Draws"],
  summary: "The draw's public proof: commitment, then digest, seed and winners as the draw goes on",
  description: "`npm run verify-draw -- <shop url> <product>` recomputes the draw from it (docs/draws.md).",
  security: [],
  request: { params: DropParams },
  responses: {
    200: { description: "The record as it stands", content: { "application/json": { schema: ProofRecord } } },
    ...problems({ status: 404, description: "draw_not_found" }),
  },
});

const frozenRoute = createRoute({
  method: "get",
  path: "/drops/{product}/draw/entries",
  operationId: "listDrawEntries",
  tags: ["Draws"],
  summary: "The frozen entry list (entry id and size), in entry id order, once the draw has closed",
  security: [],
  request: {
    params: DropParams,
    query: z.object({
      cursor: z.string().max(100).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(1000),
    }),
  },
  responses: {
    200: {
      description: "A page of the list",
      content: {
        "application/json": {
          schema: z.object({
            entries: z.array(z.object({ entryId: z.string(), sku: z.string() })),
            nextCursor: z.string().nullable(),
          }),
        },
      },
    },
    ...problems(
      { status: 404, description: "draw_not_found" },
      { status: 409, description: "draw_not_closed" },
    ),
  },
});

const receiptRoute = createRoute({
  method: "get",
  path: "/drops/{product}/draw/entry/receipt",
  operationId: "getDrawReceipt",
  tags: ["Draws"],
  summary: "One's receipt: the proof that one's entry is in the frozen list behind the published digest",
  security: entryAuth,
  request: { params: DropParams },
  responses: {
    200: {
      description: "The receipt (check it with npm run verify-draw -- --receipt)",
      content: {
        "application/json": {
          schema: z.object({
            entryId: z.string(),
            sku: z.string(),
            index: z.number().int(),
            count: z.number().int(),
            path: z.array(z.string()),
          }),
        },
      },
    },
    ...problems(
      { status: 403, description: "draw_entry_token_invalid" },
      { status: 404, description: "draw_not_found, draw_entry_not_found (not in the frozen list)" },
      { status: 409, description: "draw_not_closed" },
    ),
  },
});

export const drawRoutes = createRouter()
  .openapi(proofRoute, async (c) => {
    const { window } = await drawOf(scopeOf(c), c.req.valid("param").product);
    const record = await drawRunner(c.env, window.product).record();
    if (!record) throw new AppError("draw_not_found", { detail: "This draw is not set up" });
    c.header("Cache-Control", "no-store");
    return c.json(record, 200);
  })
  .openapi(frozenRoute, async (c) => {
    const { window } = await drawOf(scopeOf(c), c.req.valid("param").product);
    const { cursor, limit } = c.req.valid("query");
    const page = await drawRunner(c.env, window.product).frozenEntries(cursor ?? "", limit);
    if (!page)
      throw new AppError("draw_not_closed", { detail: "The list is published once the draw closes" });
    return c.json(page, 200);
  })
  .openapi(receiptRoute, async (c) => {
    const { window } = await drawOf(scopeOf(c), c.req.valid("param").product);
    const entryId = entryIdOf(c.env, c.req.header("Authorization"));
    const runner = drawRunner(c.env, window.product);
    const record = await runner.record();
    if (!record || record.state === "open") {
      throw new AppError("draw_not_closed", { detail: "Receipts are given once the draw closes" });
    }
    const receipt = await runner.receipt(entryId);
    if (!receipt)
      throw new AppError("draw_entry_not_found", { detail: "This entry is not in the frozen list" });
    c.header("Cache-Control", "no-store");
    return c.json(receipt, 200);
  })
  .openapi(enterRoute, async (c) => {
    const key = parseIdempotencyKey(c.req.header("Idempotency-Key"), "draw entry");
    const answer = await enter(scopeOf(c), c.req.valid("param").product, key, c.req.valid("json"), {
      ip: c.req.header("CF-Connecting-IP"),
      hostname: new URL(c.req.url).hostname,
      headers: c.req.raw.headers,
    });
    c.header("Cache-Control", "no-store");
    if (answer.status === 202) {
      return c.json({ entry: answer.entry, entryToken: answer.entryToken, action: answer.action }, 202);
    }
    if (answer.replayed) c.header("Idempotent-Replayed", "true");
    return c.json({ entry: answer.entry, entryToken: answer.entryToken }, answer.status);
  })
  .openapi(readRoute, async (c) => {
    const entry = await readEntry(scopeOf(c), c.req.valid("param").product, c.req.header("Authorization"));
    c.header("Cache-Control", "no-store");
    return c.json(entry, 200);
  })
  .openapi(withdrawRoute, async (c) => {
    const entry = await withdraw(scopeOf(c), c.req.valid("param").product, c.req.header("Authorization"));
    c.header("Cache-Control", "no-store");
    return c.json(entry, 200);
  });
