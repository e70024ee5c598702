import { z } from "zod";
import { type HoldOutcome, pinOrders, type SkuHold } from "../../inventory/inventory.holds";
import {
  type ChargeLookup,
  type ChargeOutcome,
  type ChargeRef,
  chargeRef,
  type PaymentGateway,
} from "../../payments/gateway";
import { gatewayTurns } from "../../payments/gateway-pacer.do";
import { gatewayFor } from "../../payments/gateways";
import { gatewayRps, paymentMode } from "../../shared/config";
import { logEvent } from "../../shared/log";
import {
  type PaymentOutcome,
  type PaymentReport,
  type PaymentTask,
  paymentRetryMs,
} from "../lifecycle/lifecycle";
import { orderShard, shardOfOrder } from "../shards";
import { holdCardAllowance } from "./card-allowance";

export const PAYMENTS_QUEUE = "stampede-payments";
export const PAYMENTS_DLQ = "stampede-payments-dlq";

/** One message hands on the payments of up to a few hundred orders of one shard. */
const PaymentMessage = z.object({ orders: z.array(z.string().min(1).max(64)).min(1).max(500) }).strict();

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
  if (byShard.size === 0) return;

  const retry = (messages: Message[], error: unknown) => {
    logEvent("warn", "payments of a shard failed; will retry", { error: String(error) });
    for (const message of messages) {
      message.retry({ delaySeconds: Math.round(paymentRetryMs(env, message.attempts) / 1000) });
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

/** `cardHolds`: the paying card's allowance, held by this attempt, for the shard to record. */
type Prepared =
  | { task: PaymentTask; outcome: PaymentOutcome; cardHolds?: SkuHold[] }
  | { task: PaymentTask; ref: ChargeRef; lookedUp: boolean; cardHolds: SkuHold[] };

/**
 * The attempts of a batch. The holds are pinned before anything could charge, so no answer, however
 * late, finds its units sold elsewhere. After an earlier attempt ended unknown, the gateway is asked
 * first; once retries are over, it is only asked. The charges that remain go out together.
 */
async function pay(env: Env, tasks: PaymentTask[]): Promise<PaymentReport[]> {
  if (tasks.length === 0) return [];
  const gateway = await gatewayFor(env);
  const toPin = tasks.filter((task) => task.mode === "charge" && !task.pinned);
  const pins = toPin.length > 0 ? await pinOrders(env, toPin) : new Map<string, HoldOutcome[]>();
  const pinned = (task: PaymentTask) =>
    task.pinned || (pins.get(task.orderId)?.every(({ result }) => result.ok) ?? false);
  const { turns, waiting } = await pace(env, tasks);
  const prepared = await Promise.all(
    turns.map((task) =>
      prepare(env, gateway, task, pins.get(task.orderId), pinned(task)).catch(
        (error: unknown): Prepared => ({ task, outcome: { kind: "not_attempted", reason: String(error) } }),
      ),
    ),
  );
  const toCharge = prepared.flatMap((entry) => ("ref" in entry ? [entry] : []));
  const answers =
    toCharge.length > 0
      ? await gateway
          .chargeAll(toCharge.map(({ ref }) => ref))
          .catch((error: unknown) =>
            toCharge.map((): ChargeOutcome => ({ status: "unknown", reason: String(error) })),
          )
      : [];
  const charged = new Map(toCharge.map((entry, i) => [entry.task.orderId, answers[i]]));
  const report = (task: PaymentTask, outcome: PaymentOutcome, cardHolds: SkuHold[] = []): PaymentReport => ({
    orderId: task.orderId,
    attempt: task.attempt,
    pinned: pinned(task),
    outcome,
    ...(cardHolds.length > 0 ? { cardHolds } : {}),
  });
  return [
    ...prepared.map((entry) =>
      report(
        entry.task,
        "outcome" in entry
          ? entry.outcome
          : outcomeOf(entry.task, charged.get(entry.task.orderId), entry.lookedUp),
        entry.cardHolds,
      ),
    ),
    ...waiting.map(({ task, outcome }) => report(task, outcome)),
  ];
}

/**
 * The attempts the gateway's rate allows now (one call to the pacer per batch; an attempt's lookup,
 * the read of its card's fingerprint and its charge count as one turn), and for the others an answer of "not attempted" that brings each
 * back when its turn comes, spread at that rate. Their holds are already pinned, so they keep their
 * units while they wait; no attempt is counted.
 */
async function pace(env: Env, tasks: PaymentTask[]) {
  const { granted, nextInMs } = await gatewayTurns(env, tasks.length);
  const rps = gatewayRps(env) || 1;
  const waiting = tasks.slice(granted).map((task, i) => ({
    task,
    outcome: {
      kind: "not_attempted",
      reason: "waiting for the payment gateway's rate",
      retryAfterMs: nextInMs + Math.floor((i / rps) * 1000),
    } satisfies PaymentOutcome,
  }));
  if (waiting.length > 0) {
    logEvent("info", "payments paced to the gateway's rate", { granted, waiting: waiting.length, rps });
  }
  return { turns: tasks.slice(0, granted), waiting };
}

/**
 * What an attempt knows before charging: an answer already, or the charge to make. The paying card's
 * allowance (for an order under a limit per customer) is held last, just before the charge, and a
 * charge is made only with it held: see card-allowance.
 */
async function prepare(
  env: Env,
  gateway: PaymentGateway,
  task: PaymentTask,
  pins: HoldOutcome[] | undefined,
  pinned: boolean,
): Promise<Prepared> {
  if (pins?.some(({ result }) => !result.ok && result.error === "unreachable")) {
    return { task, outcome: { kind: "not_attempted", reason: "inventory could not be reached" } };
  }
  const ref = chargeRef(task);
  if (task.mode === "follow") return { task, outcome: await follow(gateway, task, ref) };
  let lookedUp = false;
  if (task.mustLookup || task.mode === "lookup") {
    const found = await gateway.lookup(ref).catch(() => null);
    if (!found) return { task, outcome: { kind: "not_attempted", reason: "lookup failed" } };
    if (found.status !== "none") return foundWithCard(env, gateway, task, fromLookup(found));
    lookedUp = true;
  }
  if (task.mode === "lookup") return { task, outcome: { kind: "no_charge", lookedUp: true } };
  if (!pinned) return { task, outcome: { kind: "lapsed", lookedUp } };
  const card = await holdCardAllowance(env, gateway, task);
  switch (card.kind) {
    case "held":
      return { task, ref, lookedUp, cardHolds: card.holds };
    case "refused":
      return {
        task,
        outcome: { kind: "limit_exceeded", limit: card.limit, remaining: card.remaining, inDoubt: false },
      };
    case "invalid":
      return { task, outcome: { kind: "declined", reason: card.reason, lookedUp } };
    default: {
      const { reason, retryAfterMs } = card;
      return {
        task,
        outcome: { kind: "not_attempted", reason, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
      };
    }
  }
}

/**
 * A payment an earlier attempt left at the gateway (its report was lost), found by this one: the
 * card allowance that attempt held goes with it, held again under the order's id (the same hold).
 * Refused (it expired, and went to another order of the card), the order fails and the payment is
 * withdrawn or refunded.
 */
async function foundWithCard(
  env: Env,
  gateway: PaymentGateway,
  task: PaymentTask,
  outcome: PaymentOutcome,
): Promise<Prepared> {
  const card = await holdCardAllowance(env, gateway, task);
  switch (card.kind) {
    case "held":
      return { task, outcome, cardHolds: card.holds };
    case "refused":
      return {
        task,
        outcome: { kind: "limit_exceeded", limit: card.limit, remaining: card.remaining, inDoubt: true },
      };
    case "later":
      return { task, outcome: { kind: "not_attempted", reason: card.reason } };
    default:
      // The gateway no longer knows the token: there is no card to count; the payment found stands.
      return { task, outcome };
  }
}

/**
 * An open payment (the buyer's 3-D Secure, or processing) is only asked about. Once the buyer's time
 * is up it is withdrawn at the gateway first, so it cannot charge after the order fails; a buyer who
 * finished a moment before leaves it succeeded, and it is taken as such.
 */
async function follow(gateway: PaymentGateway, task: PaymentTask, ref: ChargeRef): Promise<PaymentOutcome> {
  const due = Date.now() >= (task.actionUntil ?? Number.POSITIVE_INFINITY);
  let found = await (due ? gateway.abandon(ref) : gateway.lookup(ref)).catch(() => null);
  // Authentication failed: the payment is withdrawn too, so its client secret cannot confirm it
  // again with another card after the order has failed.
  if (!due && found?.status === "none") found = await gateway.abandon(ref).catch(() => null);
  if (!found) return { kind: "not_attempted", reason: "the gateway could not be asked" };
  if (found.status === "none") {
    const reason = due
      ? "the buyer did not complete authentication in time"
      : "the payment was not completed (authentication failed or was withdrawn)";
    return {
      kind: "declined",
      reason,
      lookedUp: true,
      ...(found.intentId ? { intentId: found.intentId } : {}),
    };
  }
  if (found.status === "requires_action" && due) {
    return { kind: "not_attempted", reason: "the payment could not be withdrawn yet" };
  }
  return fromLookup(found);
}

/** What a lookup says of the payment; `none` (nothing charged) is for the caller to weigh. */
function fromLookup(found: ChargeLookup): PaymentOutcome {
  const intent = found.intentId ? { intentId: found.intentId } : {};
  if (found.status === "succeeded") return { kind: "charged", chargeId: found.chargeId, ...intent };
  if (found.status === "requires_action") return { kind: "requires_action", action: found.action, ...intent };
  if (found.status === "pending") return { kind: "processing", ...intent };
  return { kind: "no_charge", lookedUp: true };
}

function outcomeOf(task: PaymentTask, answer: ChargeOutcome | undefined, lookedUp: boolean): PaymentOutcome {
  if (!answer) return { kind: "unknown", reason: "no answer" };
  const intent = answer.intentId ? { intentId: answer.intentId } : {};
  if (answer.status === "succeeded") return { kind: "charged", chargeId: answer.chargeId, ...intent };
  if (answer.status === "declined") return { kind: "declined", reason: answer.reason, lookedUp, ...intent };
  if (answer.status === "requires_action") {
    return { kind: "requires_action", action: answer.action, ...intent };
  }
  if (answer.status === "processing") return { kind: "processing", ...intent };
  if (answer.status === "throttled") {
    return {
      kind: "not_attempted",
      reason: "the gateway asked to slow down (429)",
      retryAfterMs: answer.retryAfterMs,
    };
  }
  logEvent("warn", "payment outcome unknown; will retry", { orderId: task.orderId, reason: answer.reason });
  return { kind: "unknown", reason: answer.reason, ...intent };
}
