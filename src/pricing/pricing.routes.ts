import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { Money } from "../shared/money";
import { problems } from "../shared/problem";
import { catalogCart, shippingOptions } from "./pricing.quote";

/** `SKU:quantity` pairs, comma separated (`TEE-M:2,MUG:1`): the cart the methods are priced for. */
const CartItems = z
  .string()
  .max(4_000)
  .transform((text, ctx) => {
    const lines = new Map<string, number>();
    for (const pair of text.split(",")) {
      const match = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63}):([1-9][0-9]{0,3})$/.exec(pair.trim());
      if (!match?.[1] || !match[2]) {
        ctx.addIssue({ code: "custom", message: `Not SKU:quantity: ${pair.slice(0, 80)}` });
        return z.NEVER;
      }
      lines.set(match[1], (lines.get(match[1]) ?? 0) + Number(match[2]));
    }
    if (lines.size > 50) {
      ctx.addIssue({ code: "custom", message: "At most 50 SKUs" });
      return z.NEVER;
    }
    return [...lines].map(([sku, quantity]) => ({ sku, quantity }));
  })
  .openapi({ description: "The cart as SKU:quantity pairs, comma separated", example: "TEE-BLK-M:2,MUG:1" });

const MethodsQuery = z
  .object({
    country: z.string().regex(/^[A-Z]{2}$/, "ISO 3166-1 alpha-2 code such as US"),
    region: z.string().trim().min(1).max(100).optional(),
    items: CartItems,
  })
  .strict();

const ShippingOptions = z
  .object({
    methods: z.array(
      z.object({
        id: z.string().openapi({ description: "Send as shipping.method at checkout" }),
        name: z.string(),
        price: Money.openapi({ description: "What it adds to this cart (tax included where it is taxed)" }),
      }),
    ),
  })
  .openapi("ShippingOptions");

const methodsRoute = createRoute({
  method: "get",
  path: "/shipping-methods",
  operationId: "listShippingMethods",
  security: [],
  tags: ["Checkout"],
  summary: "The shipping methods offered for an address and a cart, with what each costs it",
  request: { query: MethodsQuery },
  responses: {
    200: {
      description: "Methods offered (none: the cart does not ship, or the shop does not ship there)",
      content: { "application/json": { schema: ShippingOptions } },
    },
    ...problems(
      { status: 400, description: "Invalid query, or an SKU not in the catalog (code validation_failed)" },
      { status: 503, description: "Pricing settings unavailable (Retry-After)" },
    ),
  },
});

export const pricingRoutes = createRouter().openapi(methodsRoute, async (c) => {
  const scope = scopeOf(c);
  const query = c.req.valid("query");
  const { lines, currency } = await catalogCart(scope, query.items, "query");
  const methods = await shippingOptions(scope, {
    lines,
    currency,
    place: { country: query.country, region: query.region },
    now: Date.now(),
  });
  c.header("Cache-Control", "no-store");
  return c.json(
    { methods: methods.map(({ id, name, amount }) => ({ id, name, price: { amount, currency } })) },
    200,
  );
});
