import { and, gte, sql } from "drizzle-orm";
import { database } from "../db/client";
import { orders } from "../db/schema";
import { codeUsesName } from "../inventory/allowances";
import { readCodeUses } from "../inventory/code-uses";
import { readCounts } from "../inventory/inventory.service";
import { AppError } from "../shared/errors";
import { logEvent } from "../shared/log";
import type { Discount, DiscountDefinition } from "./discounts";
import { listDiscounts } from "./discounts.storage";

/**
 * A code's uses as the admin API reads them, from where they are counted: a capped code's uses object
 * (or its buckets), a batch's or an uncapped code's orders in D1.
 */

/**
 * A code's uses: for a capped code, where they are held (its uses object: held by unpaid orders, used
 * by paid ones, and what is left of the cap, so held + used + left = maxUses while the cap is not
 * lowered below what is held and used); for a code without a cap, counted from D1's orders (which
 * follow the shards within seconds), with nothing left to count.
 */
async function usesOf(env: Env, definition: DiscountDefinition): Promise<NonNullable<Discount["uses"]>> {
  if (definition.batch) return batchUses(env, definition.code, definition.batch.count, definition.createdAt);
  if (definition.maxUses !== undefined && (definition.buckets ?? 1) > 1) {
    const { held, used } = await readCodeUses(env, definition.code, definition.buckets ?? 1);
    // While a change is not through, buckets it froze or did not reach give nothing: what is left
    // is not known from the cap alone.
    const left = definition.capPending ? null : Math.max(0, definition.maxUses - held - used);
    return { held, used, left };
  }
  if (definition.maxUses !== undefined) {
    const counts = await readCounts(env, await codeUsesName(definition.code)).catch((error: unknown) => {
      if (error instanceof AppError && error.code === "sku_not_found") return null;
      throw error;
    });
    const held = counts?.reserved ?? 0;
    const used = counts?.committed ?? 0;
    return { held, used, left: Math.max(0, definition.maxUses - held - used) };
  }
  const code = sql`json_extract(${orders.view}, '$.discountCode')`;
  const [row] = await database(env.DB)
    .select({
      held: sql<number>`sum(case when ${orders.status} = 'pending_payment' then 1 else 0 end)`,
      used: sql<number>`sum(case when ${orders.status} = 'paid' then 1 else 0 end)`,
    })
    .from(orders)
    .where(and(sql`${code} = ${definition.code}`, gte(orders.createdAt, definition.createdAt)));
  return { held: row?.held ?? 0, used: row?.used ?? 0, left: null };
}

/**
 * A code as the admin API shows it: with its uses, and for a batch its size, never its key. Uses that
 * cannot be read (a bucket of its counter unreachable) are a 503 to retry (`unreadable: "throw"`, a
 * code read alone), or `null` (a change that is done, a page of a list: the rest still answers).
 */
export async function discountWithUses(
  env: Env,
  definition: DiscountDefinition,
  unreadable: "throw" | "null" = "throw",
): Promise<Discount> {
  const { batch, maxUsesChangedAt: _changed, capPending, ...rest } = definition;
  let uses: Discount["uses"];
  try {
    uses = await usesOf(env, definition);
  } catch (error) {
    if (unreadable === "null") {
      logEvent("warn", "a discount code's uses could not be read", {
        code: definition.code,
        error: String(error),
      });
      uses = null;
    } else {
      throw new AppError("service_unavailable", {
        detail: "The code's use counters cannot be read right now; retry shortly",
        headers: { "Retry-After": "1" },
        cause: error,
      });
    }
  }
  return {
    ...rest,
    ...(capPending ? { capPending: true } : {}),
    ...(batch
      ? { batch: { count: batch.count, codes: `/v1/admin/discounts/${definition.code}/codes.csv` } }
      : {}),
    uses,
  };
}

/**
 * Object calls a page of the list may make to read its codes' uses: a split code reads each of its
 * buckets (up to 16), and a page of 100 such would pass a request's subrequests. A page stops at
 * the code that would pass this (its next cursor goes on from there); it has at least one code.
 */
const USES_CALLS_PER_PAGE = 200;
const usesCalls = (definition: DiscountDefinition) =>
  definition.maxUses !== undefined && !definition.batch ? (definition.buckets ?? 1) : 1;

/** A page of codes in code order, each with its uses (null for one whose uses could not be read). */
export async function listDiscountsWithUses(
  env: Env,
  limit: number,
  after: string | null,
): Promise<{ items: Discount[]; next: string | null }> {
  const page = await listDiscounts(env, limit, after);
  let calls = 0;
  const kept: DiscountDefinition[] = [];
  for (const definition of page.items) {
    calls += usesCalls(definition);
    if (kept.length > 0 && calls > USES_CALLS_PER_PAGE) break;
    kept.push(definition);
  }
  const cut = kept.length < page.items.length;
  const items = await Promise.all(kept.map((definition) => discountWithUses(env, definition, "null")));
  return { items, next: cut ? (kept.at(-1)?.code ?? null) : page.next };
}

/**
 * A batch's uses, counted from D1's orders (which follow the shards within seconds): the orders of its
 * codes not paid yet, those paid, and the codes left of its count. Each code's single use itself is
 * held exactly where it is (its own allowance of one).
 */
async function batchUses(
  env: Env,
  prefix: string,
  count: number,
  since: string,
): Promise<NonNullable<Discount["uses"]>> {
  const code = sql`json_extract(${orders.view}, '$.discountCode')`;
  const [row] = await database(env.DB)
    .select({
      held: sql<number>`count(distinct case when ${orders.status} = 'pending_payment' then ${code} end)`,
      used: sql<number>`count(distinct case when ${orders.status} = 'paid' then ${code} end)`,
    })
    .from(orders)
    .where(and(sql`${code} like ${`${prefix}-%`}`, gte(orders.createdAt, since)));
  const held = row?.held ?? 0;
  const used = row?.used ?? 0;
  return { held, used, left: Math.max(0, count - held - used) };
}
