import { createHmac } from "node:crypto";
import { settings } from "../shared/config";
import { ulid } from "../shared/ids";

/**
 * Where an order lives. An Idempotency-Key picks its shard by a keyed hash (HMAC with
 * ORDER_SHARD_SECRET), so every retry of a key meets the same object and nobody without the secret
 * can choose keys that all land on one shard; the order accepted under it carries that shard in its
 * id (`<ULID>-<shard>`), so anything holding an order id reaches it without a lookup.
 *
 * Without the secret, the shard is a public function of the key (the key's hash), as it was before
 * there was one. While the secret changes, ORDER_SHARD_SECRET_PREVIOUS holds the one before
 * ("unkeyed" for none), and the key's shard under it is asked first (see checkout), so a key placed
 * before the change keeps its answer.
 */
const UNKEYED = "unkeyed";

/**
 * HMAC-SHA-256 by node:crypto (workerd's BoringSSL), computed at once: the same MAC as WebCrypto's over
 * the secret's UTF-8 bytes, without its key import and promise on every checkout and refusal.
 */
function shardUnder(secret: string | undefined, keyHash: string, shards: number): number {
  if (!secret || secret === UNKEYED) return Number.parseInt(keyHash.slice(0, 8), 16) % shards;
  const mac = createHmac("sha256", secret).update(`order-shard:${keyHash}`, "utf8").digest();
  return mac.readUInt32BE(0) % shards;
}

/** The key's shard, and the one it had under the previous secret while that differs (else null). */
export async function shardsOfKey(
  env: Env,
  keyHash: string,
): Promise<{ shard: number; earlier: number | null }> {
  const shards = settings(env).orderShards;
  const shard = shardUnder(env.ORDER_SHARD_SECRET, keyHash, shards);
  const previous = env.ORDER_SHARD_SECRET_PREVIOUS;
  if (!previous || previous === env.ORDER_SHARD_SECRET) return { shard, earlier: null };
  const earlier = shardUnder(previous, keyHash, shards);
  return { shard, earlier: earlier === shard ? null : earlier };
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
