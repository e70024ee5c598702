import { holdCart, pinOrders } from "../../inventory/inventory.holds";
import { gatewayTurns } from "../../payments/gateway-pacer.do";
import { gatewayFor } from "../../payments/gateways";
import { gatewayRps, paymentMode, settings } from "../../shared/config";
import { logEvent } from "../../shared/log";
import { paymentRetryMs } from "../lifecycle/timing";
import { PaymentMessage, type PaymentReport, type PaymentTask } from "../protocol";
import { lifecycleSettings } from "../shard/adapters";
import { orderShard, shardOfOrder } from "../shards";
import { type AttemptPorts, makeAttempts } from "./attempts";

export const PAYMENTS_QUEUE = "stampede-payments";
export const PAYMENTS_DLQ = "stampede-payments-dlq";

/**
 * The payment consumer. For the whole batch: take from each shard the attempts that are due (a shard
 * knows which orders still need one, so a duplicate or late message costs a lookup in the shard,
 * nothing more), pin their holds (one call per inventory object), ask the gateway where an earlier
 * outcome was left unknown, charge the rest together, and report every outcome back to its shard,
 * which decides each order and settles its stock. A message is acked once its shard has the reports;
 * if the shard cannot be reached, its messages are retried with backoff, and after the queue's
 * `max_retries` they go to the DLQ.
 */
export async function consumePayments(batch: MessageBatch, env: Env) {
  const mode = paymentMode(env);
  if (!mode.ready) {
    // No attempt begins (none is counted) until the deployment has a gateway it may use.
    logEvent("error", "payments wait: the payment gateway is not configured", { problem: mode.problem });
    batch.retryAll({ delaySeconds: 300 });
    return;
  }
  const byShard = new Map<number, { ids: Set<string>; messages: Message[] }>();
  for (const message of batch.messages) {
    const parsed = PaymentMessage.safeParse(message.body);
    const shards = parsed.success ? parsed.data.orders.map((id) => shardOfOrder(env, id)) : [null];
    const shard = shards[0];
    if (!parsed.success || shard === null || shard === undefined || shards.some((s) => s !== shard)) {
      logEvent("error", "malformed payment message dropped", { id: message.id, body: message.body });
      message.ack();
      continue;
    }
    const group = byShard.get(shard) ?? { ids: new Set(), messages: [] };
    for (const id of parsed.data.orders) group.ids.add(id);
    group.messages.push(message);
    byShard.set(shard, group);
  }
  if (byShard.size === 0) return;

  const retry = (messages: Message[], error: unknown) => {
    logEvent("warn", "payments of a shard failed; will retry", { error: String(error) });
    for (const message of messages) {
      const delay = paymentRetryMs(
        { now: 0, random: Math.random, settings: lifecycleSettings(env) },
        message.attempts,
      );
      message.retry({ delaySeconds: Math.round(delay / 1000) });
    }
  };
  const begun = await Promise.all(
    [...byShard].map(async ([shard, { ids, messages }]) => {
      try {
        return { shard, messages, tasks: await orderShard(env, shard).beginPayments([...ids]) };
      } catch (error) {
        retry(messages, error);
        return null;
      }
    }),
  );
  const shards = begun.filter((entry) => entry !== null);
  const reports = await pay(
    env,
    shards.flatMap(({ tasks }) => tasks),
  );
  await Promise.all(
    shards.map(async ({ shard, messages, tasks }) => {
      const mine = new Set(tasks.map((task) => task.orderId));
      try {
        if (mine.size > 0) {
          await orderShard(env, shard).settlePayments(reports.filter((r) => mine.has(r.orderId)));
        }
        for (const message of messages) message.ack();
      } catch (error) {
        retry(messages, error);
      }
    }),
  );
}

/**
 * Dead letters: their shard could not be reached through every retry. The shard still owes these
 * payments and hands them on again by its own due times; this is one more try, and then the message
 * can go.
 */
export async function consumeDeadPayments(batch: MessageBatch, env: Env) {
  logEvent("warn", "dead-lettered payment messages", { count: batch.messages.length });
  await consumePayments(batch, env);
}

/** The attempts of a batch, made against this deployment's gateway and inventory. */
async function pay(env: Env, tasks: PaymentTask[]): Promise<PaymentReport[]> {
  if (tasks.length === 0) return [];
  return makeAttempts(tasks, await attemptPorts(env));
}

/** What an attempt uses in this deployment: its gateway, the inventory objects, the pacer. */
export async function attemptPorts(env: Env): Promise<AttemptPorts> {
  return {
    gateway: await gatewayFor(env),
    pin: (orders) => pinOrders(env, orders),
    hold: (orderId, lines, expiresAtMs) => holdCart(env, orderId, lines, expiresAtMs),
    turns: (wanted) => gatewayTurns(env, wanted),
    rps: gatewayRps(env),
    holdTtlMs: settings(env).holdTtlSeconds * 1000,
    now: Date.now,
    log: logEvent,
  };
}
