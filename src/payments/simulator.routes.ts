import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { paymentMode } from "../shared/config";
import { AppError } from "../shared/errors";
import { Money } from "../shared/money";
import { problems } from "../shared/problem";
import type { OpenPayment } from "./simulator.open-payments";
import { simulatorHoldsRoute } from "./simulator-holds.route";

/**
 * The simulator's 3-D Secure challenge, as a bank's page would show it to the buyer: the payment's
 * id (unguessable, like Stripe's client secret) is the only capability. It exists only where the
 * simulator is this shop's gateway.
 */
const ChallengeParams = z.object({
  id: z
    .string()
    .regex(/^pi_sim_[0-9a-f]{32}$/)
    .openapi({ param: { name: "id", in: "path" } }),
});

const Challenge = z
  .object({
    id: z.string(),
    orderId: z.string(),
    amount: Money,
    status: z.enum(["requires_action", "processing", "failed", "canceled", "succeeded"]).openapi({
      description: "requires_action until the buyer answers; succeeded once passed",
    }),
  })
  .openapi("SimulatedChallenge");

const notFound = problems({ status: 404, description: "No such challenge (challenge_not_found)" });

const getRoute = createRoute({
  method: "get",
  path: "/simulator/challenges/{id}",
  operationId: "getSimulatedChallenge",
  tags: ["Payments"],
  summary: "A simulated 3-D Secure challenge (payment simulator only)",
  security: [],
  request: { params: ChallengeParams },
  responses: {
    200: { description: "The challenge", content: { "application/json": { schema: Challenge } } },
    ...notFound,
  },
});

const answerRoute = createRoute({
  method: "post",
  path: "/simulator/challenges/{id}",
  operationId: "answerSimulatedChallenge",
  tags: ["Payments"],
  summary: "The buyer passes or fails a simulated 3-D Secure challenge",
  description:
    "Passing charges the payment (a `tok_3ds_fail` card fails whatever the answer); the order's payment is then looked at again at once. A challenge already answered, withdrawn or expired stays as it is.",
  security: [],
  request: {
    params: ChallengeParams,
    body: {
      required: true,
      content: {
        "application/json": { schema: z.object({ result: z.enum(["pass", "fail"]) }).strict() },
      },
    },
  },
  responses: {
    200: {
      description: "The challenge after the answer",
      content: { "application/json": { schema: Challenge } },
    },
    ...problems({ status: 400, description: "Invalid body" }),
    ...notFound,
  },
});

function simulator(env: Env) {
  const mode = paymentMode(env);
  if (!mode.ready || mode.provider !== "simulated") {
    throw new AppError("challenge_not_found", { detail: "This shop does not run the payment simulator" });
  }
  return env.SIMULATOR.getByName("simulator");
}

export const simulatorRoutes = createRouter()
  .openapi(getRoute, async (c) => {
    const { id } = c.req.valid("param");
    c.header("Cache-Control", "no-store");
    return c.json(challengeOf(id, await simulator(c.env).challenge(id)), 200);
  })
  .openapi(answerRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { result } = c.req.valid("json");
    c.header("Cache-Control", "no-store");
    const answered = await simulator(c.env).answerChallenge(id, result === "pass");
    return c.json(challengeOf(id, answered), 200);
  })
  .openapi(simulatorHoldsRoute, async (c) => {
    const { after, limit, status } = c.req.valid("query");
    const holds = await c.env.SIMULATOR.getByName("simulator").authorizationsAfter(
      after ?? "",
      limit,
      status,
    );
    const last = holds.length === limit ? holds.at(-1)?.id : undefined;
    return c.json({ authorizations: holds, nextCursor: last ?? null }, 200);
  });

function challengeOf(id: string, payment: OpenPayment | null): z.infer<typeof Challenge> {
  if (!payment) throw new AppError("challenge_not_found", { detail: `No challenge ${id}` });
  return {
    id: payment.id,
    orderId: payment.orderId,
    amount: payment.amount,
    status: payment.status,
  };
}
