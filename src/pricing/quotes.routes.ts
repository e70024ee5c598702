import { createRoute, z } from "@hono/zod-openapi";
import { Sku } from "../catalog/catalog.schemas";
import { clientKey } from "../http/client-key";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { AppError } from "../shared/errors";
import { refusedByLimiter } from "../shared/limiter";
import { Money } from "../shared/money";
import { problems } from "../shared/problem";
import { singleLine } from "../shared/text";
import { catalogCart, quoteCart } from "./pricing.quote";

/**
 * A cart priced before it is ordered: what the storefront shows above "Place order". It is the
 * pricing checkout does (quoteCart, with the same settings and codes read from KV and this isolate's
 * memory, so D1 down does not stop it), so a quote for the cart, address, method and code a checkout
 * then sends comes to the total of its 202, as long as the settings and the code do not change in
 * between. Nothing is held, counted or written: a code's caps are checked when the order is placed
 * (409 discount_exhausted there).
 */

const QuoteRequest = z
  .object({
    items: z
      .array(z.object({ sku: Sku, quantity: z.number().int().min(1).max(1000) }).strict())
      .min(1)
      .max(50),
    shipTo: z
      .object({
        country: z.string().regex(/^[A-Z]{2}$/, "ISO 3166-1 alpha-2 code such as US"),
        region: singleLine(100, 0).optional(),
      })
      .strict()
      .optional()
      .openapi({ description: "Where it ships: the shippingAddress's country and region at checkout" }),
    shipping: z
      .object({ method: z.string().min(1).max(63) })
      .strict()
      .optional()
      .openapi({ description: "A method GET /v1/shipping-methods offers for shipTo" }),
    discountCode: singleLine(64).optional().openapi({ example: "SPRING15" }),
  })
  .strict()
  .openapi("QuoteRequest");

const Quote = z
  .object({
    items: z.array(
      z.object({
        sku: z.string(),
        title: z.string(),
        quantity: z.number().int(),
        unitPrice: Money,
        discount: Money.openapi({ description: "What the code takes off this line" }),
        tax: Money.openapi({ description: "This line's tax (included in or added to it)" }),
        charged: Money.openapi({ description: "What this line costs, after its discount, with its tax" }),
      }),
    ),
    totals: z.object({
      subtotal: Money,
      discount: Money.openapi({ description: "Taken off by the code (lines and shipping)" }),
      shipping: Money.openapi({ description: "Shipping at its rate, before any discount" }),
      tax: Money.openapi({ description: "Included in the amounts above when taxIncluded, else added" }),
      total: Money.openapi({ description: "What checkout would charge" }),
      taxIncluded: z.boolean().openapi({ description: "Prices include tax (the shop's taxMode)" }),
    }),
    shippingMethod: z.object({ id: z.string(), name: z.string() }).optional(),
    discountCode: z.string().optional().openapi({ description: "The code applied, as the shop spells it" }),
    shippingPending: z.boolean().openapi({
      description:
        "The cart ships and the shop charges shipping, but shipTo or shipping.method is missing: shipping and its tax are not in these totals yet, and checkout would ask for them",
    }),
  })
  .openapi("Quote");

const quoteRoute = createRoute({
  method: "post",
  path: "/quotes",
  operationId: "createQuote",
  security: [],
  tags: ["Checkout"],
  summary: "Price a cart with a shipping method and a discount code, before checkout, holding nothing",
  request: { body: { required: true, content: { "application/json": { schema: QuoteRequest } } } },
  responses: {
    200: { description: "The cart's totals", content: { "application/json": { schema: Quote } } },
    ...problems(
      {
        status: 400,
        description:
          "Invalid body, an SKU not in the catalog, or a shipping method not offered for shipTo (validation_failed)",
      },
      {
        status: 422,
        description:
          "discount_not_applicable (with discount: { code, reason }) or shipping_unavailable, as checkout would answer",
      },
      { status: 429, description: "rate_limited: too many quotes with a code (Retry-After)" },
      { status: 503, description: "Pricing settings or the code unavailable (Retry-After)" },
    ),
  },
});

const PERIOD_SECONDS = 10;

export const quoteRoutes = createRouter().openapi(quoteRoute, async (c) => {
  const scope = scopeOf(c);
  const body = c.req.valid("json");
  // A quote tells whether a code exists, as checkout does: one with a code spends the client's
  // checkout budget, so quoting is no cheaper a way to guess codes than checking out.
  if (
    body.discountCode !== undefined &&
    (await refusedByLimiter("checkout", c.env.CHECKOUT_LIMITER, clientKey(c.req.raw.headers), PERIOD_SECONDS))
  ) {
    throw new AppError("rate_limited", {
      detail: "Too many quotes with a code from this client; retry after the period",
      headers: { "Retry-After": String(PERIOD_SECONDS) },
    });
  }
  const { lines, titles, currency } = await catalogCart(scope, body.items, "body");
  const quote = await quoteCart(scope, {
    lines,
    currency,
    place: body.shipTo ?? null,
    method: body.shipping?.method,
    discountCode: body.discountCode,
    now: Date.now(),
    shippingLater: true,
  });
  if ("refusal" in quote) throw new AppError(quote.refusal.code, quote.refusal);
  const { pricing } = quote;
  const money = (amount: number) => ({ amount, currency });
  c.header("Cache-Control", "no-store");
  return c.json(
    {
      items: lines.map((line, index) => {
        const priced = pricing.lines[index];
        return {
          sku: line.sku,
          title: titles.get(line.sku) ?? line.sku,
          quantity: line.quantity,
          unitPrice: money(line.unitPrice),
          discount: money(priced?.discount ?? 0),
          tax: money(priced?.tax ?? 0),
          charged: money(priced?.charged ?? 0),
        };
      }),
      totals: {
        subtotal: money(pricing.subtotal),
        discount: money(pricing.discount),
        shipping: money(pricing.shipping),
        tax: money(pricing.tax),
        total: money(quote.total),
        taxIncluded: pricing.taxMode === "inclusive",
      },
      ...(pricing.shippingMethod ? { shippingMethod: pricing.shippingMethod } : {}),
      ...(pricing.discountCode ? { discountCode: pricing.discountCode } : {}),
      shippingPending: quote.shippingPending,
    },
    200,
  );
});
