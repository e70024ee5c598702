import { z } from "@hono/zod-openapi";
import { and, gte, sql } from "drizzle-orm";
import { database } from "../db/client";
import { ORDER_STATUSES, orders } from "../db/schema";
import { Money } from "../shared/money";
import type { DiscountDefinition } from "./discounts";

/**
 * What a code brought in, as the shop reviews a promotion: its orders by status, and per currency what
 * the paid ones were charged, what the code took off them and what was refunded since. Counted from
 * D1's orders (which follow the order shards within seconds), from the code's creation on; a batch
 * counts every code under its prefix. The caps themselves are counted where uses are held (`uses`).
 */

const Count = z.number().int().min(0);

export const DiscountUsage = z
  .object({
    code: z.string(),
    since: z.string().openapi({ description: "When the code was made: orders from then on are counted" }),
    orders: z
      .object(
        Object.fromEntries(ORDER_STATUSES.map((status) => [status, Count])) as Record<
          (typeof ORDER_STATUSES)[number],
          typeof Count
        >,
      )
      .openapi({ description: "Orders carrying the code, by status" }),
    codesUsed: Count.optional().openapi({ description: "A batch: its codes on a paid order" }),
    byCurrency: z
      .array(
        z.object({
          currency: z.string(),
          paidOrders: Count,
          revenue: Money.openapi({ description: "What the paid orders were charged (their totals)" }),
          discountGiven: Money.openapi({ description: "What the code took off the paid orders" }),
          refunded: Money.openapi({
            description: "Refunded since on the paid orders (a cancelled order is counted by status only)",
          }),
        }),
      )
      .openapi({ description: "Paid orders' money, one entry per currency they were charged in" }),
  })
  .openapi("DiscountUsage");
export type DiscountUsage = z.infer<typeof DiscountUsage>;

export async function usageOf(env: Env, definition: DiscountDefinition): Promise<DiscountUsage> {
  const code = sql`json_extract(${orders.view}, '$.discountCode')`;
  const matches = definition.batch
    ? sql`${code} like ${`${definition.code}-%`}`
    : sql`${code} = ${definition.code}`;
  const rows = await database(env.DB)
    .select({
      status: orders.status,
      currency: orders.currency,
      orders: sql<number>`count(*)`,
      codes: sql<number>`count(distinct ${code})`,
      charged: sql<number>`coalesce(sum(${orders.totalAmount}), 0)`,
      discount: sql<number>`coalesce(sum(json_extract(${orders.view}, '$.totals.discount.amount')), 0)`,
      refunded: sql<number>`coalesce(sum(${orders.refundedAmount}), 0)`,
    })
    .from(orders)
    .where(and(matches, gte(orders.createdAt, definition.createdAt)))
    .groupBy(orders.status, orders.currency);

  const byStatus = Object.fromEntries(ORDER_STATUSES.map((status) => [status, 0])) as DiscountUsage["orders"];
  const currencies = new Map<string, DiscountUsage["byCurrency"][number]>();
  let codesUsed = 0;
  for (const row of rows) {
    byStatus[row.status] += row.orders;
    if (row.status !== "paid") continue;
    const money = (amount: number) => ({ amount, currency: row.currency });
    const entry = currencies.get(row.currency) ?? {
      currency: row.currency,
      paidOrders: 0,
      revenue: money(0),
      discountGiven: money(0),
      refunded: money(0),
    };
    entry.paidOrders += row.orders;
    entry.revenue.amount += row.charged;
    entry.discountGiven.amount += row.discount;
    entry.refunded.amount += row.refunded;
    codesUsed += row.codes;
    currencies.set(row.currency, entry);
  }
  return {
    code: definition.code,
    since: definition.createdAt,
    orders: byStatus,
    ...(definition.batch ? { codesUsed } : {}),
    byCurrency: [...currencies.values()].sort((a, b) => a.currency.localeCompare(b.currency)),
  };
}
