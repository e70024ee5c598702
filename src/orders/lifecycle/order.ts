import type { OrderStatus, PAYMENT_STATUSES } from "../../db/schema";
import type { LimitLine } from "../../inventory/allowances";
import type { SkuHold } from "../../inventory/inventory.holds";
import type { PaymentAction } from "../../payments/gateway";
import type { CartPricing } from "../../pricing/pricing.quote";
import type { Money } from "../../shared/money";

/** An order as the shard keeps it: what checkout accepted, and where its lifecycle stands. */
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/**
 * Where the order's units are: held (may expire at their object), pinned (kept until a decision),
 * or settled (committed: sold; released: given back).
 */
export type StockState = "held" | "pinned" | "committed" | "released";

/** A dispute (chargeback) the buyer's bank opened on the order's charge, as the gateway last told it. */
export type Dispute = { id: string; status: string; reason: string; amount: Money };

/** Units of one SKU of an order. */
export type LineQuantity = { sku: string; quantity: number };

/**
 * A refund the shop made of a paid order. `pending` until the gateway answers: `succeeded` (the money
 * is on its way back) or `failed` (the gateway refused it; nothing was refunded). `restocked` once its
 * units are back in stock (only for a refund that puts them back, and only after it succeeded).
 */
export type Refund = {
  id: string;
  /** The Idempotency-Key it was asked for under (hashed), and the hash of what was asked. */
  keyHash: string;
  fingerprint: string;
  amount: number;
  lines: LineQuantity[] | null;
  restock: boolean;
  restocked: boolean;
  /** Made by cancelling the order: every unit back, all that is left refunded. */
  cancel: boolean;
  reason: string | null;
  status: "pending" | "succeeded" | "failed";
  failure: string | null;
  createdAt: string;
  settledAt: string | null;
  /** The gateway's id of the refund, once it made it. */
  gatewayId?: string | null;
};

export type Fulfillment = {
  id: string;
  lines: LineQuantity[];
  carrier: string;
  trackingNumber: string;
  trackingUrl: string | null;
  createdAt: string;
};

type OrderItem = { sku: string; productId: string; title: string; quantity: number; unitPrice: Money };

/** What checkout priced beyond the lines' prices (see pricing/pricing.quote.ts); none before pricing. */
export type OrderPricing = CartPricing;

/** An order as checkout accepted it: nothing here changes afterwards. */
export type AcceptedOrder = {
  id: string;
  keyHash: string;
  tokenHash: string;
  items: OrderItem[];
  total: Money;
  pricing?: OrderPricing;
  customer: { email: string; name?: string };
  shippingAddress?: Record<string, string>;
  paymentToken: string;
  /** The limits per customer the paying card is counted against too, when the gateway names it. */
  cardLimits?: LimitLine[];
  holds: SkuHold[];
  holdExpiresAt: string;
  createdAt: string;
};

/** Everything a decision about an order may change (see decide.ts); the rest of the row never does. */
export type Lifecycle = {
  status: OrderStatus;
  failureReason: string | null;
  paymentStatus: PaymentStatus;
  stock: StockState;
  /** Every hold of the order: checkout's, and the paying card's allowance once a payment took it. */
  holds: SkuHold[];
  /**
   * Holds reported after the order's stock was settled (a late report's card allowance): settled the
   * way the order's were (committed for a paid order, released for a closed one), then joined to them.
   */
  lateHolds: SkuHold[];
  /** Attempts handed to the payment consumer (asking about an open payment is not counted). */
  attempts: number;
  /** Attempts whose outcome never became known (lost, lapsed, timed out): a charge may exist. */
  unknownAttempts: number;
  /** While an attempt is out with the consumer, no other is handed out. */
  leaseUntil: number | null;
  /** A closed order on which a charge may exist that nobody has looked for since. */
  chargeInDoubt: boolean;
  chargeId: string | null;
  intentId: string | null;
  /** What the buyer must do to complete an open payment (3-D Secure), and until when. */
  action: PaymentAction | null;
  actionUntil: number | null;
  /** When the gateway (or the buyer) last said the payment changed: the next look comes at once. */
  eventAt: number | null;
  /** Minor units refunded so far (from the gateway's own record, so never counted twice). */
  refunded: number;
  dispute: Dispute | null;
  /** The shop's refunds of the paid order, in the order they were asked for (see after-sale.ts). */
  refunds: Refund[];
  /** What of the paid order shipped, with carrier and tracking. */
  fulfillments: Fulfillment[];
  /** When the shop cancelled the paid order (refunded in full, every unit back): it never ships. */
  cancelledAt: string | null;
  /**
   * Whether the discount code's use (see code-uses.ts) went back, for a fully refunded order whose
   * code says so: once true, never false again, so the use goes back once.
   */
  usesReturned: boolean;
  /** When the order next owes something, and how often that step has failed in a row. */
  dueAt: number | null;
  dueAttempts: number;
};

/** An order's row: as accepted, its lifecycle, and its bookkeeping (D1 projection by version). */
export type OrderRow = AcceptedOrder &
  Lifecycle & {
    updatedAt: string;
    version: number;
    projected: number;
  };

/** The lifecycle of an order checkout just accepted: unpaid, its units held, handed on by `dueAt`. */
export function acceptedLifecycle(order: AcceptedOrder, dueAt: number): Lifecycle {
  return {
    status: "pending_payment",
    failureReason: null,
    paymentStatus: "pending",
    stock: "held",
    holds: order.holds,
    lateHolds: [],
    attempts: 0,
    unknownAttempts: 0,
    leaseUntil: null,
    chargeInDoubt: false,
    chargeId: null,
    intentId: null,
    action: null,
    actionUntil: null,
    eventAt: null,
    refunded: 0,
    dispute: null,
    refunds: [],
    fulfillments: [],
    cancelledAt: null,
    usesReturned: false,
    dueAt,
    dueAttempts: 0,
  };
}

/** The lifecycle part of a row. */
export function lifecycleOf(row: OrderRow): Lifecycle {
  return {
    status: row.status,
    failureReason: row.failureReason,
    paymentStatus: row.paymentStatus,
    stock: row.stock,
    holds: row.holds,
    lateHolds: row.lateHolds,
    attempts: row.attempts,
    unknownAttempts: row.unknownAttempts,
    leaseUntil: row.leaseUntil,
    chargeInDoubt: row.chargeInDoubt,
    chargeId: row.chargeId,
    intentId: row.intentId,
    action: row.action,
    actionUntil: row.actionUntil,
    eventAt: row.eventAt,
    refunded: row.refunded,
    dispute: row.dispute,
    refunds: row.refunds,
    fulfillments: row.fulfillments,
    cancelledAt: row.cancelledAt,
    usesReturned: row.usesReturned,
    dueAt: row.dueAt,
    dueAttempts: row.dueAttempts,
  };
}

/** Scheduling alone (when work is next due) is not part of the order anyone sees or projects. */
const SCHEDULING: readonly (keyof Lifecycle)[] = ["dueAt", "dueAttempts", "leaseUntil", "eventAt"];

/** Whether a change is one anybody sees (a new version to project and stamp), not scheduling alone. */
export function visibleChange(before: Lifecycle, after: Lifecycle): boolean {
  return (Object.keys(after) as (keyof Lifecycle)[]).some(
    (key) => !SCHEDULING.includes(key) && !same(before[key], after[key]),
  );
}

/** Whether `next` changes nothing of the order's lifecycle. */
export function unchanged(before: Lifecycle, next: Lifecycle): boolean {
  return (Object.keys(next) as (keyof Lifecycle)[]).every((key) => same(before[key], next[key]));
}

/** Whether two lifecycle values are the same (plain data: numbers, strings, objects of them). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
