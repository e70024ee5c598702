import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { CodeText, Discount, DiscountInput, DiscountPatch } from "../pricing/discounts";
import {
  createDiscount,
  discountWithUses,
  findDiscount,
  listDiscounts,
  updateDiscount,
} from "../pricing/discounts.storage";
import { AppError } from "../shared/errors";
import { problems } from "../shared/problem";

const security = [{ adminToken: [] }];
const CodeParams = z.object({ code: CodeText.openapi({ param: { name: "code", in: "path" } }) });
const one = { content: { "application/json": { schema: Discount } } };
const authProblem = { status: 401, description: "Missing or wrong admin token" };
const writeProblems = problems(
  { status: 400, description: "Invalid body (code validation_failed or invalid_json)" },
  authProblem,
  { status: 413, description: "Body over 64 KiB" },
  { status: 415, description: "Body is not JSON" },
);

const createDiscountRoute = createRoute({
  method: "post",
  path: "/discounts",
  operationId: "createDiscount",
  tags: ["Admin"],
  summary: "Create a discount code",
  description:
    "What it takes off (kind, value, per) and what it applies to never change afterwards; its dates, caps, minimum and status can (PATCH). Caps hold exactly: a use is held with the order's stock at checkout, counted when it is paid, given back when it fails.",
  security,
  request: { body: { required: true, content: { "application/json": { schema: DiscountInput } } } },
  responses: {
    201: { description: "Created", ...one },
    ...writeProblems,
    ...problems({ status: 409, description: "The code exists already (code discount_code_taken)" }),
  },
});

const getDiscountRoute = createRoute({
  method: "get",
  path: "/discounts/{code}",
  operationId: "getDiscount",
  tags: ["Admin"],
  summary: "A discount code with its uses held, used and left",
  security,
  request: { params: CodeParams },
  responses: {
    200: { description: "The code", ...one },
    ...problems(authProblem, { status: 404, description: "No such code (code discount_not_found)" }),
  },
});

const patchDiscountRoute = createRoute({
  method: "patch",
  path: "/discounts/{code}",
  operationId: "updateDiscount",
  tags: ["Admin"],
  summary: "Change a code's dates, caps, minimum, refund rule or status (disable it)",
  description:
    "null clears a field. A lowered cap refuses new uses at once where they are held, never taking back one held or used. Checkout at other locations sees the change within 30 s.",
  security,
  request: {
    params: CodeParams,
    body: { required: true, content: { "application/json": { schema: DiscountPatch } } },
  },
  responses: {
    200: { description: "The code as changed", ...one },
    ...writeProblems,
    ...problems({ status: 404, description: "No such code (code discount_not_found)" }),
  },
});

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: CodeText.optional().openapi({ description: "nextCursor of the page before" }),
});

const listDiscountsRoute = createRoute({
  method: "get",
  path: "/discounts",
  operationId: "listDiscounts",
  tags: ["Admin"],
  summary: "Discount codes in code order, each with its uses",
  security,
  request: { query: ListQuery },
  responses: {
    200: {
      description: "A page of codes",
      content: {
        "application/json": {
          schema: z.object({ items: z.array(Discount), nextCursor: z.string().nullable() }),
        },
      },
    },
    ...problems({ status: 400, description: "Invalid query" }, authProblem),
  },
});

export const adminDiscountRoutes = createRouter()
  .openapi(createDiscountRoute, async (c) => {
    const created = await createDiscount(scopeOf(c), c.req.valid("json"));
    c.header("Location", `/v1/admin/discounts/${created.code}`);
    return c.json(await discountWithUses(c.env, created), 201);
  })
  .openapi(getDiscountRoute, async (c) => {
    const { code } = c.req.valid("param");
    const found = await findDiscount(c.env, code);
    if (!found) throw new AppError("discount_not_found", { detail: `No discount code ${code}` });
    c.header("Cache-Control", "no-store");
    return c.json(await discountWithUses(c.env, found), 200);
  })
  .openapi(patchDiscountRoute, async (c) => {
    const updated = await updateDiscount(scopeOf(c), c.req.valid("param").code, c.req.valid("json"));
    return c.json(await discountWithUses(c.env, updated), 200);
  })
  .openapi(listDiscountsRoute, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await listDiscounts(c.env, limit, cursor ?? null);
    const items = await Promise.all(page.items.map((definition) => discountWithUses(c.env, definition)));
    c.header("Cache-Control", "no-store");
    return c.json({ items, nextCursor: page.next }, 200);
  });
