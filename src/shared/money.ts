import { z } from "@hono/zod-openapi";

export const Money = z
  .object({
    amount: z
      .number()
      .int()
      .min(0)
      .max(1_000_000_000_00)
      .openapi({ description: "Integer minor units (cents for USD)", example: 2499 }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, "Must be an ISO 4217 code such as USD")
      .openapi({ example: "USD" }),
  })
  .strict()
  .openapi("Money");

export type Money = z.infer<typeof Money>;
