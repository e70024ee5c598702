import { z } from "@hono/zod-openapi";

const ProblemDocument = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ description: "Stable snake_case machine code", example: "product_not_found" }),
    requestId: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string(), in: z.string() })).optional(),
  })
  .openapi("Problem");

/** OpenAPI response entries for the problem+json answers a route can give. */
export function problems(...statuses: { status: number; description: string }[]) {
  return Object.fromEntries(
    statuses.map(({ status, description }) => [
      status,
      { description, content: { "application/problem+json": { schema: ProblemDocument } } },
    ]),
  );
}
