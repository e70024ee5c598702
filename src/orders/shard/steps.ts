import { type HoldOutcome, holdKept, type OrderHolds } from "../../inventory/inventory.holds";
import { chargeRef, type PaymentGateway, refundKey, shopRefundKey } from "../../payments/gateway";
import { refundOwed, restockOwed, restockShares } from "../lifecycle/after-sale";
import { useShares } from "../lifecycle/code-uses";
import type { LifecycleEvent, StockStep } from "../lifecycle/decide";
import type { OrderRow } from "../lifecycle/order";
import type { LoopPorts } from "./ports";

/** What one step of owed work came to for an order: an event to decide, or "try again later". */
export type StepResult =
  | StockStep
  | Extract<
      LifecycleEvent,
      | { type: "refunded" }
      | { type: "verified" }
      | { type: "refund_answered" }
      | { type: "restocked" }
      | { type: "uses_returned" }
    >
  | "retry";

/**
 * The steps an order owes between decisions, each made for many orders at once (one call per inventory
 * object, the gateway's turns taken together) and answered per order with what it came to. A step never
 * writes: the loop decides each order on the answer (see decide.ts).
 */
type Steps = Map<string, StepResult>;

const unreachable = ({ result }: HoldOutcome) => !result.ok && result.error === "unreachable";
const sold = ({ result }: HoldOutcome) => !result.ok && result.error === "committed";
const holdsOf = (order: OrderRow): OrderHolds => ({ orderId: order.id, holds: order.holds });

/**
 * A charge succeeded: its units are sold, then the order is paid. Holds not yet pinned (a charge found
 * by a lookup) are pinned first, which proves they are all still there; if any is gone, its units may
 * be sold to someone else, so the order fails and the charge is refunded.
 */
export async function commitStep({ stock, log }: LoopPorts, orders: OrderRow[]): Promise<Steps> {
  const steps: Steps = new Map();
  if (orders.length === 0) return steps;
  const unpinned = orders.filter((order) => order.stock === "held");
  const pinned =
    unpinned.length > 0 ? await stock.pin(unpinned.map(holdsOf)) : new Map<string, HoldOutcome[]>();
  const ready: OrderRow[] = [];
  for (const order of orders) {
    const outcomes = pinned.get(order.id) ?? [];
    if (outcomes.some(unreachable)) steps.set(order.id, "retry");
    else if (outcomes.every(holdKept)) ready.push(order);
    else {
      const reason = "The stock was no longer held when the charge succeeded; the charge is refunded";
      steps.set(order.id, { kind: "lost", reason });
    }
  }
  const committed = ready.length > 0 ? await stock.settle(ready.map(holdsOf), "committed") : null;
  for (const order of ready) {
    const outcomes = committed?.get(order.id) ?? [];
    if (outcomes.every(({ result }) => result.ok)) {
      log("info", "order paid", { orderId: order.id, chargeId: order.chargeId });
      steps.set(order.id, { kind: "sold" });
    } else if (outcomes.some(unreachable)) {
      steps.set(order.id, "retry");
    } else {
      // Pinned holds cannot lapse, so this is a fault worth a look: the order is refunded.
      log("error", "a pinned hold could not be committed", { orderId: order.id, outcomes });
      steps.set(order.id, {
        kind: "lost",
        reason: "The stock could not be committed; the charge is refunded",
      });
    }
  }
  return steps;
}

/**
 * Gives a closed order's held units back. Units a commit sold for it are given back too: a closed
 * order never keeps sold units, and such a commit's decision was lost (the shard stopped between the
 * commit and its write, and the order was then closed; see SkuInventory.unsell).
 */
export async function releaseStep({ stock, log }: LoopPorts, orders: OrderRow[]): Promise<Steps> {
  const steps: Steps = new Map();
  if (orders.length === 0) return steps;
  const released = await stock.settle(orders.map(holdsOf), "released");
  const resold = orders.filter((order) => (released.get(order.id) ?? []).some(sold));
  const unsold =
    resold.length > 0 ? await stock.unsell(resold.map(holdsOf)) : new Map<string, HoldOutcome[]>();
  for (const order of orders) {
    const outcomes = unsold.get(order.id) ?? released.get(order.id) ?? [];
    if (outcomes.some(unreachable) || outcomes.some(sold)) {
      steps.set(order.id, "retry");
      continue;
    }
    if (unsold.has(order.id)) {
      log("warn", "a closed order's units had been sold by a commit whose decision was lost; given back", {
        orderId: order.id,
      });
    }
    steps.set(order.id, { kind: "released" });
  }
  return steps;
}

/**
 * Pins holds a report added to orders that stay unpaid, whose other holds are pinned: then all are. An
 * order whose added holds could not be pinned stays held: its next attempt (or its commit) pins every
 * hold again before anything is charged or sold.
 */
export async function pinStep({ stock, log }: LoopPorts, added: OrderHolds[]): Promise<Steps> {
  const steps: Steps = new Map();
  if (added.length === 0) return steps;
  const pinned = await stock.pin(added);
  for (const { orderId } of added) {
    const outcomes = pinned.get(orderId) ?? [];
    if (outcomes.every(({ result }) => result.ok)) steps.set(orderId, { kind: "pinned" });
    else log("warn", "an added hold could not be pinned; the next attempt pins it", { orderId, outcomes });
  }
  return steps;
}

/**
 * Holds reported after an order's stock was settled (a late report's card allowance) are settled the
 * same way: committed for a paid order, given back for a closed one. A paid order is never undone for a
 * late hold that lapsed before it could be committed: that allowance is not counted, which is logged.
 */
export async function lateStep({ stock, log }: LoopPorts, orders: OrderRow[]): Promise<Steps> {
  const steps: Steps = new Map();
  if (orders.length === 0) return steps;
  const late = (to: "committed" | "released") =>
    orders
      .filter((order) => (order.stock === "committed") === (to === "committed"))
      .map((order) => ({ orderId: order.id, holds: order.lateHolds }));
  const settled = (to: "committed" | "released") =>
    late(to).length > 0 ? stock.settle(late(to), to) : Promise.resolve(new Map<string, HoldOutcome[]>());
  const [committed, released] = await Promise.all([settled("committed"), settled("released")]);
  for (const order of orders) {
    const outcomes = committed.get(order.id) ?? released.get(order.id) ?? [];
    if (outcomes.some(unreachable)) {
      steps.set(order.id, "retry");
      continue;
    }
    const lapsed = outcomes.filter(({ result }) => !result.ok && result.error !== "committed");
    if (order.stock === "committed" && lapsed.length > 0) {
      log("warn", "a hold added to a paid order had lapsed; it is not counted", {
        orderId: order.id,
        lapsed,
      });
    }
    steps.set(order.id, { kind: "late_settled" });
  }
  return steps;
}

/**
 * One gateway call per order, for the orders the gateway's rate allows now; the others back off like
 * a failed step (refunds and checks are few, and never urgent to the second).
 */
async function atGateway(
  ports: LoopPorts,
  orders: OrderRow[],
  call: (gateway: PaymentGateway, order: OrderRow) => Promise<StepResult>,
): Promise<Steps> {
  const steps: Steps = new Map();
  if (orders.length === 0) return steps;
  const gateway = await ports.payments.gateway();
  const { granted } = await ports.payments.turns(orders.length);
  for (const order of orders.slice(granted)) steps.set(order.id, "retry");
  await Promise.all(
    orders.slice(0, granted).map(async (order) => steps.set(order.id, await call(gateway, order))),
  );
  return steps;
}

/** Refunds the charge on each of these closed orders, under the order's own refund key. */
export function refundStep(ports: LoopPorts, orders: OrderRow[]): Promise<Steps> {
  return atGateway(ports, orders, async (gateway, order) => {
    try {
      const outcome = await gateway.refund(order.chargeId ?? "", refundKey(order.id));
      // Refunded in full already (from the gateway's dashboard, say), or no such charge at the gateway:
      // no money of the buyer's is held, which is what this step wanted.
      if (
        outcome.status === "refused" &&
        !/^(charge_already_refunded|charge_not_found|resource_missing)/.test(outcome.reason)
      ) {
        ports.log("error", "the gateway refused to refund a closed order's charge; will retry", {
          orderId: order.id,
          reason: outcome.reason,
        });
        return "retry";
      }
    } catch (error) {
      ports.log("warn", "refund failed; will retry", { orderId: order.id, error: String(error) });
      return "retry";
    }
    ports.log("warn", "charge on a closed order refunded", { orderId: order.id });
    return { type: "refunded" };
  });
}

/**
 * A closed order on which a charge may exist: the payment is withdrawn at the gateway where it could
 * still be confirmed (so a charge still on its way is refused from then on), and answered as it is.
 */
export function verifyStep(ports: LoopPorts, orders: OrderRow[]): Promise<Steps> {
  return atGateway(ports, orders, async (gateway, order) => {
    const ref = chargeRef({
      orderId: order.id,
      amount: order.total,
      token: order.paymentToken,
      intentId: order.intentId,
    });
    const found = await gateway.abandon(ref).catch(() => null);
    return found ? { type: "verified", found } : "retry";
  });
}

/**
 * Makes the first pending refund the shop asked for of each paid order, under the refund's own key:
 * made again after a lost answer, the gateway answers the refund it already made, never a second one.
 * A refusal (more than is left, the charge disputed) is an answer too; only an unknown outcome retries.
 */
export function payBackStep(ports: LoopPorts, orders: OrderRow[]): Promise<Steps> {
  return atGateway(ports, orders, async (gateway, order) => {
    const refund = refundOwed(order);
    if (!refund || order.chargeId === null) return "retry";
    try {
      const outcome = await gateway.refund(order.chargeId, shopRefundKey(order.id, refund.id), {
        amount: refund.amount,
        currency: order.total.currency,
      });
      ports.log(outcome.status === "succeeded" ? "info" : "warn", `refund ${outcome.status}`, {
        orderId: order.id,
        refundId: refund.id,
        ...(outcome.status === "refused" ? { reason: outcome.reason } : {}),
      });
      return {
        type: "refund_answered",
        refundId: refund.id,
        answer:
          outcome.status === "succeeded"
            ? {
                status: "succeeded",
                gatewayId: outcome.refundId,
                ...(outcome.chargeRefunded !== undefined ? { chargeRefunded: outcome.chargeRefunded } : {}),
              }
            : { status: "failed", reason: outcome.reason },
      };
    } catch (error) {
      ports.log("warn", "refund outcome unknown; will ask again under the same key", {
        orderId: order.id,
        refundId: refund.id,
        error: String(error),
      });
      return "retry";
    }
  });
}

/**
 * Puts a refund's units back in the buckets that sold them, each share once under the refund's key, so
 * a restock made twice (inline and by the alarm, or after a lost answer) puts them back once.
 */
export async function restockStep({ stock, log }: LoopPorts, orders: OrderRow[]): Promise<Steps> {
  const steps: Steps = new Map();
  const owed = orders.flatMap((order) => {
    const refund = restockOwed(order);
    if (!refund) return [];
    const shares = restockShares(order, refund.id).map((share) => ({
      ...share,
      orderId: order.id,
      key: `${order.id}:${refund.id}:${share.sku}#${share.bucket}`,
    }));
    return [{ order, refund, shares }];
  });
  if (owed.length === 0) return steps;
  const answers = await stock.restock(owed.flatMap(({ shares }) => shares));
  for (const { order, refund, shares } of owed) {
    const results = shares.map((share) => answers.get(share.key) ?? "unreachable");
    if (results.includes("unreachable")) {
      steps.set(order.id, "retry");
      continue;
    }
    if (results.some((result) => result === "refused" || result === "not_sold")) {
      // Units the bucket did not sell to this order cannot go back: the refund stands, logged to look at.
      log("error", "a refund's units could not go back to stock", { orderId: order.id, refundId: refund.id });
    }
    steps.set(order.id, { type: "restocked", refundId: refund.id });
  }
  return steps;
}

/**
 * Gives a fully refunded order's discount code use back (see code-uses.ts): each hold marked with the
 * code returns its units to its allowance object once under its key, so the step made twice (inline and
 * by the alarm, or after a restart between the return and the order's write) returns the use once.
 *
 * What is left if the worker dies between the refund and the give-back: the refund's answer is written
 * with the order still owing `return_uses`, due now, so the shard's alarm makes this step (and backs off
 * while an allowance object cannot be reached). Dying after the objects took the return and before the
 * order records it leaves the order owing the step: made again, each object answers `done` under the
 * same key and the order records it. A hold its object refuses (never committed there: a card's
 * allowance that lapsed before the order was paid, which never counted) has no use to give back.
 */
export async function returnUsesStep({ stock, log }: LoopPorts, orders: OrderRow[]): Promise<Steps> {
  const steps: Steps = new Map();
  const owed = orders.map((order) => ({ order, shares: useShares(order) }));
  const shares = owed.flatMap(({ shares: of }) => of);
  const answers = shares.length > 0 ? await stock.restock(shares) : new Map<string, string>();
  for (const { order, shares: of } of owed) {
    const results = of.map((share) => answers.get(share.key) ?? "unreachable");
    if (results.includes("unreachable")) {
      steps.set(order.id, "retry");
      continue;
    }
    if (results.includes("not_sold")) {
      // A card's hold that lapsed before its order was paid never counted a use: nothing to give back.
      log("warn", "a code's use had not been counted where it was held; nothing to give back there", {
        orderId: order.id,
      });
    }
    if (results.includes("refused")) {
      // A share the object cannot take (its key reused, more than was sold) is a fault of ours: retrying
      // would be refused again, so the step ends, loudly.
      log("error", "a code's use could not be given back", { orderId: order.id });
    }
    log("info", "the discount code's use is given back", {
      orderId: order.id,
      code: order.pricing?.discountCode,
    });
    steps.set(order.id, { type: "uses_returned" });
  }
  return steps;
}
