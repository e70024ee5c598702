import { type HoldOutcome, holdKept, type OrderHolds, type SkuHold } from "../../inventory/inventory.holds";
import {
  type ChargeLookup,
  type ChargeOutcome,
  type ChargeRef,
  chargeRef,
  type PaymentGateway,
} from "../../payments/gateway";
import type { AttemptOutcome, PaymentReport, PaymentTask } from "../protocol";
import { type CardAllowancePorts, holdCardAllowance } from "./card-allowance";

/** What the attempts need of the world: the gateway, the inventory, the gateway's rate, a clock. */
export type AttemptPorts = CardAllowancePorts & {
  pin(orders: OrderHolds[]): Promise<Map<string, HoldOutcome[]>>;
  turns(wanted: number): Promise<{ granted: number; nextInMs: number }>;
  /** Calls per second the gateway takes, to spread the attempts that wait for their turn. */
  rps: number;
  log(level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void;
};

/** `cardHolds`: the paying card's allowance, held by this attempt, for the shard to record. */
type Prepared =
  | { task: PaymentTask; outcome: AttemptOutcome; cardHolds?: SkuHold[] }
  | { task: PaymentTask; ref: ChargeRef; lookedUp: boolean; cardHolds: SkuHold[] };

/**
 * The attempts of a batch, each ending in a report. The holds are pinned before anything could charge,
 * so no answer, however late, finds its units sold elsewhere: a charge is made only with every hold of
 * its task pinned. After an earlier attempt ended unknown, the gateway is asked first; once retries are
 * over, the payment is withdrawn there (so a charge an earlier attempt still has on its way is refused)
 * and answered as it is. The charges that remain go out together.
 */
export async function makeAttempts(tasks: PaymentTask[], ports: AttemptPorts): Promise<PaymentReport[]> {
  if (tasks.length === 0) return [];
  // Every task pins what is not pinned yet: a payment followed while it is open may complete at any
  // moment, and one withdrawn may turn out charged, so their holds must not run out either.
  const toPin = tasks.filter((task) => !task.pinned);
  const pins = toPin.length > 0 ? await ports.pin(toPin) : new Map<string, HoldOutcome[]>();
  const pinned = (task: PaymentTask) => task.pinned || (pins.get(task.orderId)?.every(holdKept) ?? false);
  const { turns, waiting } = await pace(tasks, ports);
  const prepared = await Promise.all(
    turns.map((task) =>
      prepare(ports, task, pins.get(task.orderId), pinned(task)).catch(
        (error: unknown): Prepared => ({ task, outcome: { kind: "not_attempted", reason: String(error) } }),
      ),
    ),
  );
  const toCharge = prepared.flatMap((entry) => ("ref" in entry ? [entry] : []));
  for (const { task } of toCharge) {
    // Holds pinned while a charge may be in flight: time alone can then never give its units away.
    if (!pinned(task)) throw new Error(`order ${task.orderId} would be charged with holds not pinned`);
  }
  const answers =
    toCharge.length > 0
      ? await ports.gateway
          .chargeAll(toCharge.map(({ ref }) => ref))
          .catch((error: unknown) =>
            toCharge.map((): ChargeOutcome => ({ status: "unknown", reason: String(error) })),
          )
      : [];
  const charged = new Map(toCharge.map((entry, i) => [entry.task.orderId, answers[i]]));
  const report = (task: PaymentTask, outcome: AttemptOutcome, cardHolds: SkuHold[] = []): PaymentReport => ({
    orderId: task.orderId,
    attempt: task.attempt,
    pinned: pinned(task),
    taskHolds: task.holds.length,
    outcome,
    ...(cardHolds.length > 0 ? { cardHolds } : {}),
  });
  return [
    ...prepared.map((entry) =>
      report(
        entry.task,
        "outcome" in entry
          ? entry.outcome
          : outcomeOf(ports, entry.task, charged.get(entry.task.orderId), entry.lookedUp),
        entry.cardHolds,
      ),
    ),
    ...waiting.map(({ task, outcome }) => report(task, outcome)),
  ];
}

/**
 * The attempts the gateway's rate allows now (one call to the pacer per batch; an attempt's lookup,
 * the read of its card's fingerprint and its charge count as one turn), and for the others an answer of
 * "not attempted" that brings each back when its turn comes, spread at that rate. Their holds are
 * already pinned, so they keep their units while they wait; no attempt is counted.
 */
async function pace(tasks: PaymentTask[], ports: AttemptPorts) {
  const { granted, nextInMs } = await ports.turns(tasks.length);
  const rps = ports.rps || 1;
  const waiting = tasks.slice(granted).map((task, i) => ({
    task,
    outcome: {
      kind: "not_attempted",
      reason: "waiting for the payment gateway's rate",
      retryAfterMs: nextInMs + Math.floor((i / rps) * 1000),
    } satisfies AttemptOutcome,
  }));
  if (waiting.length > 0) {
    ports.log("info", "payments paced to the gateway's rate", { granted, waiting: waiting.length, rps });
  }
  return { turns: tasks.slice(0, granted), waiting };
}

/**
 * What an attempt knows before charging: an answer already, or the charge to make. The paying card's
 * allowance (for an order under a limit per customer) is held last, just before the charge, and a
 * charge is made only with it held: see card-allowance.
 */
async function prepare(
  ports: AttemptPorts,
  task: PaymentTask,
  pins: HoldOutcome[] | undefined,
  pinned: boolean,
): Promise<Prepared> {
  if (pins?.some(({ result }) => !result.ok && result.error === "unreachable")) {
    return { task, outcome: { kind: "not_attempted", reason: "inventory could not be reached" } };
  }
  const { gateway } = ports;
  const ref = chargeRef(task);
  if (task.mode === "follow") return { task, outcome: await follow(ports, gateway, task, ref) };
  if (task.mode === "withdraw") {
    // Retries are over: the payment is withdrawn, so whatever an earlier attempt still has on its way
    // is refused by the gateway from now on, and the order is decided on what the gateway holds.
    const found = await gateway.abandon(ref).catch(() => null);
    if (!found) return { task, outcome: { kind: "not_attempted", reason: "the gateway could not be asked" } };
    if (found.status === "none") return { task, outcome: { kind: "no_charge" } };
    return foundWithCard(ports, task, fromLookup(found));
  }
  let lookedUp = false;
  if (task.mustLookup) {
    const found = await gateway.lookup(ref).catch(() => null);
    if (!found) return { task, outcome: { kind: "not_attempted", reason: "lookup failed" } };
    if (found.status !== "none") return foundWithCard(ports, task, fromLookup(found));
    lookedUp = true;
  }
  if (!pinned) return { task, outcome: { kind: "lapsed", lookedUp } };
  const card = await holdCardAllowance(ports, task);
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
 * A payment an earlier attempt left at the gateway (its report was lost), found by this one: the card
 * allowance that attempt held goes with it, held again under the order's id (the same hold). Refused
 * (it expired, and went to another order of the card), the order fails and the payment is withdrawn
 * or refunded.
 */
async function foundWithCard(
  ports: AttemptPorts,
  task: PaymentTask,
  outcome: AttemptOutcome,
): Promise<Prepared> {
  const card = await holdCardAllowance(ports, task);
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
async function follow(
  ports: AttemptPorts,
  gateway: PaymentGateway,
  task: PaymentTask,
  ref: ChargeRef,
): Promise<AttemptOutcome> {
  const due = ports.now() >= (task.actionUntil ?? Number.POSITIVE_INFINITY);
  let found = await (due ? gateway.abandon(ref) : gateway.lookup(ref)).catch(() => null);
  let withdrawn = due;
  // Authentication failed: the payment is withdrawn too, so its client secret cannot confirm it
  // again with another card after the order has failed.
  if (!due && found?.status === "none") {
    found = await gateway.abandon(ref).catch(() => null);
    withdrawn = true;
  }
  if (!found) return { kind: "not_attempted", reason: "the gateway could not be asked" };
  if (found.status === "none") {
    const reason = due
      ? "the buyer did not complete authentication in time"
      : "the payment was not completed (authentication failed or was withdrawn)";
    return {
      kind: "declined",
      reason,
      lookedUp: true,
      withdrawn,
      ...(found.intentId ? { intentId: found.intentId } : {}),
    };
  }
  if (found.status === "requires_action" && due) {
    return { kind: "not_attempted", reason: "the payment could not be withdrawn yet" };
  }
  return fromLookup(found);
}

/** What a lookup says of the payment; `none` (nothing charged) is for the caller to weigh. */
function fromLookup(found: ChargeLookup): AttemptOutcome {
  const intent = found.intentId ? { intentId: found.intentId } : {};
  if (found.status === "succeeded") return { kind: "charged", chargeId: found.chargeId, ...intent };
  if (found.status === "requires_action") return { kind: "requires_action", action: found.action, ...intent };
  if (found.status === "pending") return { kind: "processing", ...intent };
  // Refunded (or none): no live charge exists, and none can come of this payment any more.
  return { kind: "no_charge" };
}

function outcomeOf(
  ports: AttemptPorts,
  task: PaymentTask,
  answer: ChargeOutcome | undefined,
  lookedUp: boolean,
): AttemptOutcome {
  if (!answer) return { kind: "unknown", reason: "no answer" };
  const intent = answer.intentId ? { intentId: answer.intentId } : {};
  switch (answer.status) {
    case "succeeded":
      return { kind: "charged", chargeId: answer.chargeId, ...intent };
    case "declined":
      return { kind: "declined", reason: answer.reason, lookedUp, ...intent };
    case "requires_action":
      return { kind: "requires_action", action: answer.action, ...intent };
    case "processing":
      return { kind: "processing", ...intent };
    case "throttled":
      return {
        kind: "not_attempted",
        reason: "the gateway asked to slow down (429)",
        retryAfterMs: answer.retryAfterMs,
      };
    case "unknown":
      // Routine, not a warning: a gateway's 5xx or timeout is what the retries with backoff are for.
      // Retries running out shows where an operator looks: the ops page and the order's failureReason.
      ports.log("info", "payment outcome unknown; will retry", {
        orderId: task.orderId,
        reason: answer.reason,
      });
      return { kind: "unknown", reason: answer.reason, ...intent };
  }
}
