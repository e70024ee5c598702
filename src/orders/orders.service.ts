import { database } from "../db/client";
import { secretsEqual } from "../http/admin-auth";
import { sha256Hex } from "../shared/crypto";
import { AppError } from "../shared/errors";
import type { Order } from "./orders.schemas";
import { findOrder, itemsOf, toOrder } from "./orders.storage";
import { orderShard, shardOfOrder } from "./shards";

const notFound = (id: string) => new AppError("order_not_found", { detail: `No order ${id} for this token` });

/**
 * An order with its token's hash, from where it lives: its shard (the record, always current), or D1
 * for an id no shard issued.
 */
async function lookup(env: Env, id: string): Promise<{ order: Order; tokenHash: string } | null> {
  const shard = shardOfOrder(env, id);
  if (shard !== null) {
    const found = await orderShard(env, shard).order(id);
    if (!found) return null;
    const { tokenHash, ...order } = found;
    return { order, tokenHash };
  }
  const db = database(env.DB);
  const row = await findOrder(db, id);
  if (!row) return null;
  const items = await itemsOf(db, [row.id]);
  return { order: toOrder(row, items.get(row.id) ?? []), tokenHash: row.tokenHash };
}

/** An order is found only with its token: an unknown id and a wrong token look exactly alike. */
async function authorize(env: Env, id: string, authorization: string | undefined) {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
  const found = await lookup(env, id);
  const given = await sha256Hex(token ?? "");
  // Compare even when there is no order, so a miss costs what a wrong token costs.
  const matches = await secretsEqual(given, found?.tokenHash ?? "0".repeat(64));
  if (!found || !token || !matches) throw notFound(id);
  return found.order;
}

export function readOrder(env: Env, id: string, authorization: string | undefined): Promise<Order> {
  return authorize(env, id, authorization);
}

/**
 * Cancels an unpaid order. The shard decides it like any other decision, so a charge that lands
 * afterwards finds the order cancelled and is refunded.
 */
export async function cancelOrder(env: Env, id: string, authorization: string | undefined): Promise<Order> {
  await authorize(env, id, authorization);
  const shard = shardOfOrder(env, id);
  const result = shard === null ? null : await orderShard(env, shard).cancel(id);
  if (!result) {
    throw new AppError("order_not_cancellable", { detail: "This order can no longer be cancelled" });
  }
  if (!result.ok)
    throw new AppError("order_not_cancellable", { detail: `The order is already ${result.status}` });
  return result.order;
}

/**
 * The buyer finished what the payment asked of them (3-D Secure with Stripe.js): the order's payment
 * is looked at again now rather than at its next turn. Stripe's webhook does the same; this one makes
 * it quicker, and works where no webhook reaches the shop.
 */
export async function recheckPayment(
  env: Env,
  id: string,
  authorization: string | undefined,
): Promise<Order> {
  await authorize(env, id, authorization);
  const shard = shardOfOrder(env, id);
  const found = shard === null ? null : await orderShard(env, shard).recheck(id);
  if (!found) throw notFound(id);
  const { tokenHash: _, ...order } = found;
  return order;
}
