import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { batchCodes } from "../pricing/code-batches";
import { DiscountUsage, usageOf } from "../pricing/discount-usage";
import { BatchInput, CodeText, Discount, DiscountInput, DiscountPatch } from "../pricing/discounts";
import { createBatch, createDiscount, findDiscount, updateDiscount } from "../pricing/discounts.storage";
import { discountWithUses, listDiscountsWithUses } from "../pricing/discounts.uses";
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
    ...problems(
      authProblem,
      { status: 404, description: "No such code (code discount_not_found)" },
      { status: 503, description: "Its use counters cannot be read just now (Retry-After)" },
    ),
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

const createBatchRoute = createRoute({
  method: "post",
  path: "/discounts/batches",
  operationId: "createDiscountBatch",
  tags: ["Admin"],
  summary: "Generate a batch of single-use codes (up to 1,048,576), each usable once",
  description:
    "Every code is PREFIX- and 12 characters; checkout tells the batch's codes from guesses by their MAC, so nothing is stored per code. The CSV of every code is at batch.codes. maxUsesPerCustomer counts over the whole batch. PATCH the prefix to change the batch's dates or disable it.",
  security,
  request: { body: { required: true, content: { "application/json": { schema: BatchInput } } } },
  responses: {
    201: { description: "The batch, under its prefix", ...one },
    ...writeProblems,
    ...problems({ status: 409, description: "The prefix is a code already (code discount_code_taken)" }),
  },
});

const codesRoute = createRoute({
  method: "get",
  path: "/discounts/{code}/codes.csv",
  operationId: "exportDiscountBatch",
  tags: ["Admin"],
  summary: "Every code of a batch of single-use codes, as CSV",
  security,
  request: { params: CodeParams },
  responses: {
    200: { description: "One code a line, after a header", content: { "text/csv": { schema: z.string() } } },
    ...problems(authProblem, {
      status: 404,
      description: "No batch with this prefix (code discount_not_found)",
    }),
  },
});

const usageRoute = createRoute({
  method: "get",
  path: "/discounts/{code}/usage",
  operationId: "getDiscountUsage",
  tags: ["Admin"],
  summary: "What a code (or a batch, by its prefix) brought in: orders by status, revenue, discount given",
  description:
    "Counted from D1's orders, a few seconds behind checkout, from the code's creation on. Revenue, discount given and refunds are those of the paid orders, per currency.",
  security,
  request: { params: CodeParams },
  responses: {
    200: { description: "The code's usage", content: { "application/json": { schema: DiscountUsage } } },
    ...problems(authProblem, { status: 404, description: "No such code (code discount_not_found)" }),
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
  description:
    "A page stops early (fewer than limit codes, nextCursor set) where reading its codes' uses would take more than 200 counter calls (a split code reads each bucket). A code whose uses cannot be read just now has uses null.",
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

/** Codes of a batch, a chunk at a time, so the CSV of a large batch streams out as it is made. */
function codesCsv(prefix: string, key: string, count: number): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode("code\r\n"));
    },
    async pull(controller) {
      const to = Math.min(count, next + 500);
      const codes = await batchCodes(prefix, key, next, to);
      controller.enqueue(encoder.encode(codes.map((code) => `${code}\r\n`).join("")));
      next = to;
      if (next >= count) controller.close();
    },
  });
}

export const adminDiscountRoutes = createRouter()
  .openapi(createBatchRoute, async (c) => {
    const created = await createBatch(scopeOf(c), c.req.valid("json"));
    c.header("Location", `/v1/admin/discounts/${created.code}`);
    return c.json(await discountWithUses(c.env, created, "null"), 201);
  })
  .openapi(codesRoute, async (c) => {
    const { code } = c.req.valid("param");
    const found = await findDiscount(c.env, code);
    if (!found?.batch) throw new AppError("discount_not_found", { detail: `No batch of codes ${code}` });
    return new Response(codesCsv(found.code, found.batch.key, found.batch.count), {
      headers: {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": `attachment; filename="${found.code.toLowerCase()}-codes.csv"`,
        "Cache-Control": "no-store",
      },
    });
  })
  .openapi(usageRoute, async (c) => {
    const { code } = c.req.valid("param");
    const found = await findDiscount(c.env, code);
    if (!found) throw new AppError("discount_not_found", { detail: `No discount code ${code}` });
    c.header("Cache-Control", "no-store");
    return c.json(await usageOf(c.env, found), 200);
  })
  .openapi(createDiscountRoute, async (c) => {
    const created = await createDiscount(scopeOf(c), c.req.valid("json"));
    c.header("Location", `/v1/admin/discounts/${created.code}`);
    return c.json(await discountWithUses(c.env, created, "null"), 201);
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
    // The change is made: uses that cannot be read now are null, not a 503 that would have it repeated.
    return c.json(await discountWithUses(c.env, updated, "null"), 200);
  })
  .openapi(listDiscountsRoute, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await listDiscountsWithUses(c.env, limit, cursor ?? null);
    const { items } = page;
    c.header("Cache-Control", "no-store");
    return c.json({ items, nextCursor: page.next }, 200);
  });
