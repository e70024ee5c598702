import { createRoute, z } from "@hono/zod-openapi";
import { Money } from "../shared/money";
import { problems } from "../shared/problem";
import { HOLD_STATUSES } from "./simulator.authorizations";

/**
 * The simulator's holds (card authorizations), every one a page at a time: what an audit of a draw
 * compares the draw's record with (each winner captured once, every other hold released). Under
 * /v1/admin, so behind the admin token like the simulator's charge ledger.
 */
const Hold = z
  .object({
    id: z.string(),
    idempotencyKey: z.string(),
    ownerId: z.string().openapi({ description: "Whose hold: the order or draw entry it was placed for" }),
    amount: Money,
    token: z.string(),
    status: z.enum(HOLD_STATUSES),
    reason: z.string().nullable(),
    chargeId: z.string().nullable(),
    captures: z.number().int().openapi({ description: "Times it was charged: never above 1" }),
    createdAt: z.iso.datetime(),
    authorizedAt: z.iso.datetime().nullable(),
    expiresAt: z.iso.datetime().nullable(),
    capturedAt: z.iso.datetime().nullable(),
    cancelledAt: z.iso.datetime().nullable(),
  })
  .openapi("SimulatedHold");

export const simulatorHoldsRoute = createRoute({
  method: "get",
  path: "/admin/simulator/authorizations",
  operationId: "listSimulatedHolds",
  tags: ["Admin"],
  summary: "The payment simulator's holds, in id order, for audits",
  security: [{ adminToken: [] }],
  request: {
    query: z.object({
      after: z
        .string()
        .regex(/^pi_sim_[0-9a-f]{32}$/)
        .optional()
        .openapi({ description: "The nextCursor of the page before" }),
      limit: z.coerce.number().int().min(1).max(1000).default(1000),
      status: z.enum(HOLD_STATUSES).optional().openapi({ description: "Only holds that stand here" }),
    }),
  },
  responses: {
    200: {
      description: "A page of holds, as stored",
      content: {
        "application/json": {
          schema: z.object({ authorizations: z.array(Hold), nextCursor: z.string().nullable() }),
        },
      },
    },
    ...problems(
      { status: 400, description: "Invalid query" },
      { status: 401, description: "Missing or wrong admin token" },
    ),
  },
});
