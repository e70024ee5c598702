import { refundOwed, restockOwed } from "./after-sale";
import { usesOwed } from "./code-uses";
import type { Lifecycle, OrderRow } from "./order";

/**
 * Where an order stands, by name. Every order is in exactly one state; the state decides what the
 * order still owes and which events can move it (see decide.ts).
 *
 *   unpaid ──begin──► attempt_out ──report──► unpaid (unknown: retry later)
 *     │                   │   ├─────────────► awaiting_buyer / processing ──begin──► attempt_out (follow)
 *     │ hold expired      │   ├─────────────► charged ──stock committed──► paid
 *     ▼                   │   └─────────────► closed (declined, withdrawn, refused)
 *   closed ◄── cancel ────┘ (lease lapses: the next begin counts the attempt unknown)
 *
 * A closed order (payment_failed or cancelled) still owes work until its units are back, a charge on
 * it is refunded, and a charge that may exist has been looked for (and withdrawn) at the gateway.
 */
export type OrderState =
  /** Pending; no attempt out, nothing open at the gateway. `unknownAttempts` may have charged. */
  | { name: "unpaid"; unknownAttempts: number }
  /** Pending; an attempt is with the consumer until `leaseUntil` (following an open payment or not). */
  | { name: "attempt_out"; leaseUntil: number; following: boolean }
  /** Pending; the gateway waits for the buyer (3-D Secure) until `actionUntil`. */
  | { name: "awaiting_buyer"; actionUntil: number | null }
  /** Pending; the gateway took the payment and settles it later. */
  | { name: "processing" }
  /** Pending; the charge succeeded, the units are not sold yet. */
  | { name: "charged" }
  | { name: "paid" }
  | { name: "closed"; status: "payment_failed" | "cancelled" };

/** The gateway has the payment and it is not settled: waiting for the buyer, or processing. */
export function isOpenPayment(order: Pick<Lifecycle, "paymentStatus">): boolean {
  return order.paymentStatus === "requires_action" || order.paymentStatus === "processing";
}

export function stateOf(order: Lifecycle): OrderState {
  switch (order.status) {
    case "paid":
      return { name: "paid" };
    case "payment_failed":
    case "cancelled":
      return { name: "closed", status: order.status };
    case "pending_payment":
      if (order.paymentStatus === "succeeded") return { name: "charged" };
      if (order.leaseUntil !== null) {
        return { name: "attempt_out", leaseUntil: order.leaseUntil, following: isOpenPayment(order) };
      }
      if (order.paymentStatus === "requires_action") {
        return { name: "awaiting_buyer", actionUntil: order.actionUntil };
      }
      if (order.paymentStatus === "processing") return { name: "processing" };
      return { name: "unpaid", unknownAttempts: order.unknownAttempts };
  }
}

/**
 * Whether a charge may exist, or still be made, that nobody has accounted for: an attempt is out or
 * ended unknown, or the gateway holds an open payment. Time alone never decides such an order.
 */
export function chargeMayExist(order: Lifecycle): boolean {
  return order.unknownAttempts > 0 || order.leaseUntil !== null || isOpenPayment(order);
}

/**
 * What an order owes: hand out a payment attempt (`pay`, which follows an open payment), wait for the
 * attempt out (`await`) or count it unknown once its lease ran out (`lapse`), close it because its
 * hold ran out before any payment began (`expire`), sell its units (`commit`), give them back
 * (`release`), settle holds reported late (`settle_late`), refund a charge on a closed order, look
 * for (and withdraw) a charge that may exist (`verify`), or, for a paid order, make a refund the shop
 * asked for at the gateway (`pay_back`), put its units back in stock (`restock`), and give its
 * discount code's use back once it is refunded in full, where the code says so (`return_uses`).
 */
export type Work =
  | "pay"
  | "await"
  | "lapse"
  | "expire"
  | "commit"
  | "release"
  | "settle_late"
  | "refund"
  | "verify"
  | "pay_back"
  | "restock"
  | "return_uses";

/** What an order owes at `now`; null when nothing is left to do. */
export function owedWork(
  order: Lifecycle & Pick<OrderRow, "holdExpiresAt" | "pricing" | "total">,
  now: number,
): Work | null {
  const state = stateOf(order);
  switch (state.name) {
    case "unpaid":
      return state.unknownAttempts === 0 && Date.parse(order.holdExpiresAt) <= now ? "expire" : "pay";
    case "attempt_out":
      return state.leaseUntil > now ? "await" : "lapse";
    case "awaiting_buyer":
    case "processing":
      return "pay";
    case "charged":
      return "commit";
    case "paid":
      if (order.lateHolds.length > 0) return "settle_late";
      // Units of a refund made go back first: a refund the gateway has not answered yet never keeps
      // them off the shelf.
      if (restockOwed(order)) return "restock";
      if (refundOwed(order)) return "pay_back";
      return usesOwed(order) ? "return_uses" : null;
    case "closed":
      if (order.stock === "held" || order.stock === "pinned") return "release";
      if (order.lateHolds.length > 0) return "settle_late";
      if (order.paymentStatus === "succeeded") return "refund";
      if (!order.chargeInDoubt) return null;
      return order.leaseUntil !== null && order.leaseUntil > now ? "await" : "verify";
  }
}

/**
 * When an order next owes something: when its attempt's lease ends, when a payment retry set for later
 * comes due (a backoff, the gateway's rate, the buyer's time to act), now, or never.
 */
export function dueAtFor(
  order: Lifecycle & Pick<OrderRow, "holdExpiresAt" | "pricing" | "total">,
  now: number,
): number | null {
  const work = owedWork(order, now);
  if (work === null) return null;
  if (work === "await") return order.leaseUntil ?? now;
  if (work === "pay" && order.dueAt !== null && order.dueAt > now) return order.dueAt;
  return now;
}
