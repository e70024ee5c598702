import { pinOrders, restockShares, settleOrders, unsellOrders } from "../../inventory/inventory.holds";
import { gatewayTurns } from "../../payments/gateway-pacer.do";
import { gatewayFor } from "../../payments/gateways";
import { settings } from "../../shared/config";
import { logEvent } from "../../shared/log";
import type { LifecycleSettings } from "../lifecycle/timing";
import type { LoopPorts, OrderStore } from "./ports";

/** The shop's payment settings as the lifecycle machine takes them. */
export function lifecycleSettings(env: Env): LifecycleSettings {
  const s = settings(env);
  return {
    maxAttempts: s.paymentMaxAttempts,
    retryBaseMs: s.paymentRetryBaseSeconds * 1000,
    retryCapMs: s.paymentRetryMaxDelaySeconds * 1000,
    actionMs: s.paymentActionSeconds * 1000,
  };
}

/** The order loop's ports in a deployed shard: its SQLite, the inventory objects, the gateway. */
export function shardPorts(
  env: Env,
  store: OrderStore,
  hooks: Pick<LoopPorts, "handOn" | "wake">,
): LoopPorts {
  return {
    store,
    stock: {
      pin: (orders) => pinOrders(env, orders),
      // Every release the order loop makes is of a closed order: no hold is taken for it again.
      settle: (orders, to) => settleOrders(env, orders, to, to === "released"),
      unsell: (orders) => unsellOrders(env, orders),
      restock: (shares) => restockShares(env, shares),
    },
    payments: {
      gateway: () => gatewayFor(env),
      turns: (wanted) => gatewayTurns(env, wanted),
    },
    ...hooks,
    clock: { now: Date.now, random: Math.random },
    settings: lifecycleSettings(env),
    log: logEvent,
  };
}
