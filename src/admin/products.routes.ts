import { createRoute } from "@hono/zod-openapi";
import { Product, ProductIdParams, ProductInput } from "../catalog/catalog.schemas";
import { archive, createProduct, updateProduct } from "../catalog/catalog.service";
import { tellRoom } from "../drops/waiting-room";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { AppError } from "../shared/errors";
import { problems } from "../shared/problem";

const security = [{ adminToken: [] }];
const writeProblems = problems(
  { status: 400, description: "Invalid body (code validation_failed or invalid_json)" },
  { status: 401, description: "Missing or wrong admin token" },
  { status: 409, description: "Slug or SKU already in use (codes slug_taken, sku_taken)" },
  { status: 413, description: "Body over 64 KiB" },
  { status: 415, description: "Body is not JSON" },
);
const jsonBody = { required: true, content: { "application/json": { schema: ProductInput } } };

const createProductRoute = createRoute({
  method: "post",
  path: "/products",
  operationId: "createProduct",
  tags: ["Admin"],
  summary: "Create a product",
  security,
  request: { body: jsonBody },
  responses: {
    201: { description: "Created", content: { "application/json": { schema: Product } } },
    ...writeProblems,
  },
});

const replaceProductRoute = createRoute({
  method: "put",
  path: "/products/{id}",
  operationId: "updateProduct",
  tags: ["Admin"],
  summary: "Replace a product and its variants",
  security,
  request: { params: ProductIdParams, body: jsonBody },
  responses: {
    200: { description: "Replaced", content: { "application/json": { schema: Product } } },
    ...writeProblems,
    ...problems(
      { status: 404, description: "No active product with this id (code product_not_found)" },
      {
        status: 503,
        description:
          "service_unavailable: the product was saved but its drop's waiting room has not heard of the change yet; repeat the request (Retry-After)",
      },
    ),
  },
});

const archiveProductRoute = createRoute({
  method: "delete",
  path: "/products/{id}",
  operationId: "deleteProduct",
  tags: ["Admin"],
  summary: "Archive a product (gone from public reads)",
  security,
  request: { params: ProductIdParams },
  responses: {
    204: { description: "Archived" },
    ...problems(
      { status: 401, description: "Missing or wrong admin token" },
      { status: 404, description: "No active product with this id (code product_not_found)" },
    ),
  },
});

export const adminProductRoutes = createRouter()
  .openapi(createProductRoute, async (c) => {
    const product = await createProduct(scopeOf(c), c.req.valid("json"));
    c.header("Location", `/v1/products/${product.id}`);
    return c.json(product, 201);
  })
  .openapi(replaceProductRoute, async (c) => {
    const product = await updateProduct(scopeOf(c), c.req.valid("param").id, c.req.valid("json"));
    // A drop's line waits in its room, which must follow a moved start at once (a join would bring it,
    // but a formed line may see no more joins). The cron tells it again should this fail.
    await tellRoom(c.env, product).catch((error: unknown) => {
      throw new AppError("service_unavailable", {
        detail:
          "The product was saved, but its waiting room has not heard of the change yet: repeat the request",
        headers: { "Retry-After": "2" },
        cause: error,
      });
    });
    return c.json(product, 200);
  })
  .openapi(archiveProductRoute, async (c) => {
    await archive(scopeOf(c), c.req.valid("param").id);
    return c.body(null, 204);
  });
