import { OrderId } from "../orders/intake.args";
import { orderShard, shardOfOrder } from "../orders/shards";

export type GatewayEvent = { eventId: string; orderId: string; type: string; detail?: GatewayEventDetail };

/** What an event says beyond "look again": a refund's total so far, or a dispute's standing. */
export type GatewayEventDetail =
  | { refunded: { amount: number; currency: string } }
  | { dispute: { id: string; status: string; reason: string; amount: number; currency: string } };

/**
 * Hands a payment gateway's event about one order to the order's shard: Stripe's webhooks and the
 * simulator both come through here. Answers whether the order is ours and the event was new.
 */
export async function announceGatewayEvent(
  env: Env,
  event: GatewayEvent,
): Promise<{ known: boolean; duplicate: boolean }> {
  const orderId = OrderId.safeParse(event.orderId);
  const shard = orderId.success ? shardOfOrder(orderId.data) : null;
  if (shard === null) return { known: false, duplicate: false };
  return orderShard(env, shard).gatewayEvent(event);
}
