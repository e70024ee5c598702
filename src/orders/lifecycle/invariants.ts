import { pricedTotal } from "../../pricing/cart-pricing.schemas";
import type { Money } from "../../shared/money";
import { lineBook } from "./after-sale";
import { usesReturnable } from "./code-uses";
import type { AcceptedOrder, Lifecycle, OrderRow } from "./order";
import { owedWork } from "./states";

/**
 * The order lifecycle's invariants, stated once: `orderViolations` of every order the shard writes and
 * `changeViolations` of every change it writes. `checkOrder` runs both before each write (the shard
 * then aborts the write's transaction on a violation and logs the order id); the model test runs it on
 * every step of every simulated sequence. Two more are enforced where their decisions are made: an order whose charge may
 * exist is never closed by time (decide.ts, `expire`), and the consumer charges only with every hold
 * pinned (payment/attempts.ts).
 */
export class InvariantViolation extends Error {
  readonly orderId: string;
  readonly violations: string[];

  constructor(orderId: string, violations: string[]) {
    super(`order ${orderId} would break its invariants: ${violations.join("; ")}`);
    this.name = "InvariantViolation";
    this.orderId = orderId;
    this.violations = violations;
  }
}

const LIVE = new Set(["succeeded", "refunded"]);
const PENDING_PAYMENT_STATUSES = new Set(["pending", "requires_action", "processing", "succeeded"]);

/** What is wrong with an order as it would be written at `now` (nothing, for a sound one). */
function orderViolations(order: OrderRow, now: number): string[] {
  const wrong: string[] = [];
  const check = (holds: boolean, message: string) => {
    if (!holds) wrong.push(message);
  };
  const closed = order.status === "payment_failed" || order.status === "cancelled";
  // Paid only with its stock committed, and only on a charge.
  if (order.status === "paid") {
    check(order.stock === "committed", "a paid order's stock is committed");
    check(LIVE.has(order.paymentStatus) && order.chargeId !== null, "a paid order has its charge");
    check(order.leaseUntil === null, "no attempt is out for a paid order");
  }
  if (order.status === "pending_payment") {
    check(order.stock === "held" || order.stock === "pinned", "a pending order's units are held");
    check(PENDING_PAYMENT_STATUSES.has(order.paymentStatus), "a pending order's payment is not settled");
  }
  if (closed) check(order.stock !== "committed", "a closed order sold nothing");
  check(!order.chargeInDoubt || closed, "only a closed order is in doubt of a charge");
  // Every charge the order knows is one charge; a succeeded one is named.
  check(!LIVE.has(order.paymentStatus) || order.chargeId !== null, "a charge is named by its id");
  // What the buyer must do exists exactly while the payment waits for them.
  const waiting = order.paymentStatus === "requires_action";
  check(
    !waiting || (order.action !== null && order.actionUntil !== null),
    "a waiting payment says what to do",
  );
  check(order.action === null || waiting, "an action is shown only while the payment waits for it");
  check(order.leaseUntil === null || order.attempts >= 1, "an attempt out is counted");
  check(order.unknownAttempts >= 0 && order.unknownAttempts <= order.attempts, "unknown attempts were made");
  check(order.refunded >= 0 && order.refunded <= order.total.amount, "no more is refunded than was paid");
  check(
    order.lateHolds.length === 0 || order.stock === "committed" || order.stock === "released",
    "late holds wait only on settled stock",
  );
  // The day after the sale: refunds and fulfilments only of a paid order, never beyond what it bought.
  check(order.refunds.length === 0 || order.status === "paid", "only a paid order is refunded by the shop");
  check(order.fulfillments.length === 0 || order.status === "paid", "only a paid order ships");
  const promised = order.refunds
    .filter((refund) => refund.status !== "failed")
    .reduce((sum, refund) => sum + refund.amount, 0);
  check(promised <= order.total.amount, "no more is refunded, or promised, than was paid");
  for (const [sku, line] of lineBook(order)) {
    check(line.refunded <= line.quantity, `no more of ${sku} is refunded than was bought`);
    check(line.fulfilled <= line.quantity, `no more of ${sku} ships than was bought`);
  }
  check(
    order.refunds.every((refund) => !refund.restocked || (refund.restock && refund.status === "succeeded")),
    "only a refund made puts units back",
  );
  check(order.cancelledAt === null || order.fulfillments.length === 0, "a cancelled order never ships");
  // A code's use goes back only to a paid order refunded in full whose code said so at checkout.
  check(!order.usesReturned || usesReturnable(order), "a use goes back only when the code's rule says so");
  // Nothing owed is forgotten: whatever an order still owes has a time it is due.
  check(owedWork(order, now) === null || order.dueAt !== null, "what an order owes is due at a time");
  return wrong;
}

/** What is wrong with a change from `before` to `after` (nothing, for a sound one). */
function changeViolations(before: Lifecycle, after: Lifecycle): string[] {
  const wrong: string[] = [];
  const check = (holds: boolean, message: string) => {
    if (!holds) wrong.push(message);
  };
  // Terminal states never change again (the contract's status machine).
  check(before.status === "pending_payment" || after.status === before.status, "a terminal status stays");
  // One live charge at most: the charge an order records is never replaced by another.
  check(before.chargeId === null || after.chargeId === before.chargeId, "an order has one charge");
  check(before.paymentStatus !== "refunded" || after.paymentStatus === "refunded", "a refund stays");
  check(after.refunded >= before.refunded, "the refunded total only grows");
  // Settled stock stays settled; holds are never forgotten.
  check(before.stock !== "committed" || after.stock === "committed", "sold units stay sold");
  check(before.stock !== "released" || after.stock === "released", "units given back stay given back");
  const holds = new Set([...after.holds, ...after.lateHolds].map((hold) => hold.sku));
  check(
    before.holds.every((hold) => holds.has(hold.sku)),
    "an order keeps every hold it had",
  );
  check(after.attempts >= before.attempts - 1, "attempts are not uncounted beyond the one answered");
  // Refunds and fulfilments are a record: never dropped or rewritten; a refund only settles once.
  const refunds = new Map(after.refunds.map((refund) => [refund.id, refund]));
  for (const earlier of before.refunds) {
    const now = refunds.get(earlier.id);
    check(now !== undefined, "a refund is never forgotten");
    if (!now) continue;
    check(
      now.amount === earlier.amount && JSON.stringify(now.lines) === JSON.stringify(earlier.lines),
      "a refund's amount and lines never change",
    );
    check(earlier.status === "pending" || now.status === earlier.status, "a refund settles once");
    check(!earlier.restocked || now.restocked, "units put back stay put back");
  }
  const shipped = new Set(after.fulfillments.map((fulfillment) => JSON.stringify(fulfillment)));
  check(
    before.fulfillments.every((fulfillment) => shipped.has(JSON.stringify(fulfillment))),
    "a fulfilment is never forgotten or rewritten",
  );
  check(before.cancelledAt === null || after.cancelledAt === before.cancelledAt, "a cancel stays");
  check(!before.usesReturned || after.usesReturned, "a use given back stays given back");
  return wrong;
}

/** Throws an InvariantViolation naming everything wrong with writing `after` over `before`. */
export function checkOrder(before: OrderRow | null, after: OrderRow, now: number): void {
  const wrong = [...orderViolations(after, now), ...(before ? changeViolations(before, after) : [])];
  if (wrong.length > 0) throw new InvariantViolation(after.id, wrong);
}

/**
 * What is wrong with an order a draw charged, before it is recorded (nothing, for a sound one): what
 * the capture took is the order's total, and a priced order's total is its pricing's.
 */
export function drawnChargeViolations(order: AcceptedOrder, captured: Money): string[] {
  const wrong: string[] = [];
  if (captured.amount !== order.total.amount || captured.currency !== order.total.currency) {
    wrong.push(
      `the amount captured (${captured.amount} ${captured.currency}) is the order's total (${order.total.amount} ${order.total.currency})`,
    );
  }
  if (order.pricing && pricedTotal(order.pricing) !== order.total.amount) {
    wrong.push("the order's total is its pricing's");
  }
  return wrong;
}
