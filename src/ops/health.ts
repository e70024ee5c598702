import { sql } from "drizzle-orm";
import { database } from "../db/client";
import { pingOrderIntake } from "../orders/protocol";
import { paymentMode } from "../shared/config";

type CheckResult = { ok: boolean; ms: number; error?: string };
export type HealthReport = {
  ok: boolean;
  checks: Record<string, CheckResult>;
  payments: { provider: "simulated" | "stripe"; live: boolean };
};

const CHECK_TIMEOUT_MS = 2000;

async function timed(check: () => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    return { ok: false, ms: Math.round(performance.now() - started), error: String(error) };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Asks each dependency a question it can only answer if it works, all at once, each with a deadline. */
export async function checkHealth(env: Env): Promise<HealthReport> {
  const entries = await Promise.all(
    Object.entries({
      d1: () => database(env.DB).run(sql`SELECT 1`),
      kv: () => env.CATALOG.get("health:probe"),
      inventory: () => env.INVENTORY.getByName("health:probe").ping(),
      orders: () => pingOrderIntake(env),
    }).map(async ([name, check]) => [name, await timed(check)] as const),
  );
  const mode = paymentMode(env);
  const payments: CheckResult = mode.problem
    ? { ok: false, ms: 0, error: mode.problem }
    : { ok: true, ms: 0 };
  const checks = { ...Object.fromEntries(entries), payments };
  return {
    ok: Object.values(checks).every((result) => result.ok),
    checks,
    payments: { provider: mode.provider, live: mode.live },
  };
}
