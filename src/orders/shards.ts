import { settings } from "../shared/config";
import { ulid } from "../shared/ids";

/**
 * Where an order lives. An Idempotency-Key picks its shard by its hash, so every retry of a key meets
 * the same object; the order accepted under it carries that shard in its id (`<ULID>-<shard>`), so
 * anything holding an order id reaches it without a lookup.
 */
export function shardOfKey(env: Env, keyHash: string): number {
  return Number.parseInt(keyHash.slice(0, 8), 16) % settings(env).orderShards;
}

const ORDER_ID = /^[0-9A-HJKMNP-TV-Z]{26}-(\d{1,4})$/;

export function newOrderId(shard: number, now = Date.now()): string {
  return `${ulid(now)}-${shard}`;
}

/**
 * The shard an order id names, or null for an id no shard of this shop issued (older orders live in
 * D1 only). A shard number past ORDER_SHARDS is null too: naming it must not create an object.
 */
export function shardOfOrder(env: Env, orderId: string): number | null {
  const match = ORDER_ID.exec(orderId);
  const shard = match ? Number(match[1]) : null;
  return shard !== null && shard < settings(env).orderShards ? shard : null;
}

export function orderShard(env: Env, shard: number) {
  return env.ORDERS.getByName(`orders-${shard}`);
}

/** Every shard, for what spans them all: the reconciler, the ops page's counts. */
export function allShards(env: Env) {
  return Array.from({ length: settings(env).orderShards }, (_, shard) => orderShard(env, shard));
}
