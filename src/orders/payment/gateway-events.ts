import type { GatewayEvent, GatewayEventListener } from "../../payments/gateway";
import { OrderId } from "../protocol";
import { orderShard, shardOfOrder } from "../shards";

/**
 * Hands a payment gateway's event about one order to the order's shard: Stripe's webhooks and the
 * simulator both come through here. Answers whether the order is ours and the event was new.
 */
export const announceGatewayEvent: GatewayEventListener = async (env: Env, event: GatewayEvent) => {
  const orderId = OrderId.safeParse(event.orderId);
  const shard = orderId.success ? shardOfOrder(env, orderId.data) : null;
  if (shard === null) return { known: false, duplicate: false };
  return orderShard(env, shard).gatewayEvent(event);
};
