import { z } from "zod";
import { type HoldOutcome, pinOrders } from "../inventory/inventory.holds";
import {
  type PaymentOutcome,
  type PaymentReport,
  type PaymentTask,
  paymentRetryMs,
} from "../orders/lifecycle";
import { orderShard, shardOfOrder } from "../orders/shards";
import { logEvent } from "../shared/log";
import { type ChargeRef, chargeKey, gatewayFor, type PaymentGateway } from "./gateway";

export const PAYMENTS_QUEUE = "stampede-payments";
export const PAYMENTS_DLQ = "stampede-payments-dlq";

/** One message hands on the payments of up to a few hundred orders of one shard. */
export const PaymentMessage = z
  .object({ orders: z.array(z.string().min(1).max(64)).min(1).max(500) })
  .strict();
export type PaymentMessage = z.infer<typeof PaymentMessage>;

/**
 * The payment consumer. For each shard named in the batch: take the attempts that are due from the
 * shard (it knows which orders still need one, so a duplicate or late message costs a lookup in the
 * shard, nothing more), pin their holds (one call per inventory object), ask or charge the gateway,
 * and report every outcome back to the shard, which decides each order and settles its stock. A
 * message is acked once its shard has the reports; if the shard or its inventory cannot be reached,
 * the message is retried with backoff, and after the queue's `max_retries` it goes to the DLQ.
 */
export async function consumePayments(batch: MessageBatch, env: Env) {
  const byShard = new Map<number, { ids: Set<string>; messages: Message[] }>();
  for (const message of batch.messages) {
    const parsed = PaymentMessage.safeParse(message.body);
    const shards = parsed.success ? parsed.data.orders.map(shardOfOrder) : [null];
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
  const gateway = byShard.size > 0 ? await gatewayFor(env) : null;
  await Promise.all(
    [...byShard].map(async ([shard, { ids, messages }]) => {
      try {
        await payShard(env, gateway as PaymentGateway, shard, [...ids]);
        for (const message of messages) message.ack();
      } catch (error) {
        logEvent("warn", "payments of a shard failed; will retry", { shard, error: String(error) });
        for (const message of messages) {
          message.retry({ delaySeconds: Math.round(paymentRetryMs(env, message.attempts) / 1000) });
        }
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

async function payShard(env: Env, gateway: PaymentGateway, shard: number, ids: string[]) {
  const stub = orderShard(env, shard);
  const tasks = await stub.beginPayments(ids);
  if (tasks.length === 0) return;
  const toPin = tasks.filter((task) => task.mode === "charge" && !task.pinned);
  const pins = toPin.length > 0 ? await pinOrders(env, toPin) : new Map<string, HoldOutcome[]>();
  const reports = await Promise.all(
    tasks.map(async (task): Promise<PaymentReport> => {
      const pinned = pins.get(task.orderId);
      const outcome = await attempt(gateway, task, pinned).catch(
        (error: unknown): PaymentOutcome => ({ kind: "unknown", reason: String(error) }),
      );
      return {
        orderId: task.orderId,
        attempt: task.attempt,
        pinned: task.pinned || (pinned?.every(({ result }) => result.ok) ?? false),
        outcome,
      };
    }),
  );
  await stub.settlePayments(reports);
}

/**
 * One attempt. The holds are pinned before anything could charge, so no answer, however late, finds
 * its units sold elsewhere. After an earlier attempt ended unknown, the gateway is asked first; once
 * retries are over, it is only asked.
 */
async function attempt(
  gateway: PaymentGateway,
  task: PaymentTask,
  pins: HoldOutcome[] | undefined,
): Promise<PaymentOutcome> {
  if (pins?.some(({ result }) => !result.ok && result.error === "unreachable")) {
    return { kind: "not_attempted", reason: "inventory could not be reached" };
  }
  const ref: ChargeRef = {
    orderId: task.orderId,
    idempotencyKey: chargeKey(task.orderId),
    amount: task.amount,
    token: task.token,
    intentId: task.intentId,
  };
  let lookedUp = false;
  if (task.mustLookup || task.mode === "lookup") {
    const found = await gateway.lookup(ref).catch(() => null);
    if (!found || found.status === "pending") {
      return { kind: "not_attempted", reason: found ? "the payment is still processing" : "lookup failed" };
    }
    if (found.status === "succeeded") {
      return {
        kind: "charged",
        chargeId: found.chargeId,
        ...(found.intentId ? { intentId: found.intentId } : {}),
      };
    }
    if (found.status === "refunded") return { kind: "no_charge", lookedUp: true };
    lookedUp = true;
  }
  if (task.mode === "lookup") return { kind: "no_charge", lookedUp: true };
  const pinned = task.pinned || (pins?.every(({ result }) => result.ok) ?? false);
  if (!pinned) return { kind: "lapsed", lookedUp };

  const outcome = await gateway.charge(ref);
  const intent = outcome.intentId ? { intentId: outcome.intentId } : {};
  if (outcome.status === "succeeded") return { kind: "charged", chargeId: outcome.chargeId, ...intent };
  if (outcome.status === "declined") return { kind: "declined", reason: outcome.reason, lookedUp, ...intent };
  logEvent("warn", "payment outcome unknown; will retry", { orderId: task.orderId, reason: outcome.reason });
  return { kind: "unknown", reason: outcome.reason, ...intent };
}
