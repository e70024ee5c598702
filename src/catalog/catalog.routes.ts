import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { AppError } from "../shared/errors";
import { problems } from "../shared/problem";
import { catalogResponse, heldProductAnswer } from "./catalog.http";
import { ListQuery, Product, ProductPage, ProductParams } from "./catalog.schemas";
import { readProduct, readProductPage } from "./catalog.service";

const cachedHeaders = {
  ETag: { schema: { type: "string" as const }, description: "Strong validator of the body" },
  "Cache-Control": { schema: { type: "string" as const } },
  "X-Cache-Layer": {
    schema: { type: "string" as const, enum: ["memory", "cache", "kv", "d1", "stale"] },
    description:
      "Which layer answered: isolate memory, Cache API, KV, D1, or a last good copy while D1 fails",
  },
};

/** Revalidation: a client that sends back the ETag it holds gets a 304 without a body. */
const conditional = z.object({
  "if-none-match": z.string().optional().openapi({
    description: "An ETag this client holds (or a list of them, or *): 304 when it still matches",
  }),
});

const listRoute = createRoute({
  method: "get",
  path: "/products",
  operationId: "listProducts",
  // Public: no credentials.
  security: [],
  tags: ["Catalog"],
  summary: "List active products",
  request: { query: ListQuery, headers: conditional },
  responses: {
    200: {
      description: "A page of products",
      headers: cachedHeaders,
      content: { "application/json": { schema: ProductPage } },
    },
    304: { description: "Not modified (If-None-Match matched)" },
    ...problems(
      { status: 400, description: "Invalid query or cursor" },
      { status: 503, description: "Catalog unavailable and no copy cached" },
    ),
  },
});

const getRoute = createRoute({
  method: "get",
  path: "/products/{idOrSlug}",
  operationId: "getProduct",
  // Public: no credentials.
  security: [],
  tags: ["Catalog"],
  summary: "Get a product by id or slug",
  request: { params: ProductParams, headers: conditional },
  responses: {
    200: {
      description: "The product",
      headers: cachedHeaders,
      content: { "application/json": { schema: Product } },
    },
    304: { description: "Not modified (If-None-Match matched)" },
    ...problems(
      { status: 404, description: "No active product (code product_not_found)" },
      { status: 503, description: "Catalog unavailable and no copy cached" },
    ),
  },
});

export const catalogRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const read = await readProductPage(scopeOf(c), c.req.valid("query"));
    return catalogResponse(c, read) as never;
  })
  .openapi(getRoute, async (c) => {
    const { idOrSlug } = c.req.valid("param");
    const held = heldProductAnswer(c.env, idOrSlug, c.req.header("If-None-Match"));
    if (held) {
      c.set("cacheLayer", "memory");
      return held as never;
    }
    const read = await readProduct(scopeOf(c), idOrSlug);
    if (!read) throw new AppError("product_not_found", { detail: `No product ${idOrSlug}` });
    return catalogResponse(c, read) as never;
  });
