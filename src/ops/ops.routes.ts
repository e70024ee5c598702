import { createRoute, z } from "@hono/zod-openapi";
import { isAdmin } from "../http/admin-auth";
import { createRouter } from "../http/router";
import { AppError } from "../shared/errors";
import { logEvent } from "../shared/log";
import { problems } from "../shared/problem";
import { checkHealth } from "./health";

const Check = z.object({
  ok: z.boolean(),
  ms: z.number(),
  error: z.string().optional().openapi({ description: "Why it failed: only with the admin token" }),
});
const Health = z
  .object({
    ok: z.literal(true),
    checks: z.record(z.string(), Check),
    payments: z.object({
      provider: z.enum(["simulated", "stripe"]),
      live: z.boolean().openapi({ description: "false: the simulator, which takes no money" }),
    }),
  })
  .openapi("Health");

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  // Public: no credentials.
  security: [],
  tags: ["Operations"],
  summary: "Whether D1, KV, the inventory and order objects answer, and payments are configured",
  responses: {
    200: { description: "Every dependency answered", content: { "application/json": { schema: Health } } },
    ...problems({
      status: 503,
      description: "Some dependency failed; `failed` names them and `checks` has detail",
    }),
  },
});

export const opsRoutes = createRouter().openapi(healthRoute, async (c) => {
  const report = await checkHealth(c.env);
  c.header("Cache-Control", "no-store");
  if (!report.ok) {
    const failed = Object.entries(report.checks)
      .filter(([, check]) => !check.ok)
      .map(([name]) => name);
    logEvent("error", "health check failed", { failed, checks: report.checks });
    // What failed is public; why (configuration, a dependency's error) is the operator's.
    if (!(await isAdmin(c.env, c.req.header("Authorization")))) {
      report.checks = Object.fromEntries(
        Object.entries(report.checks).map(([name, { ok, ms }]) => [name, { ok, ms }]),
      );
    }
    throw new AppError("service_unavailable", {
      detail: `Not answering: ${failed.join(", ")}`,
      extensions: { ok: false, failed, checks: report.checks, payments: report.payments },
      headers: { "Retry-After": "5" },
    });
  }
  return c.json({ ok: true as const, checks: report.checks, payments: report.payments }, 200);
});
