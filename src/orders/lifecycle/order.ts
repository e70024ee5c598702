import type { OrderStatus, PAYMENT_STATUSES } from "../../db/schema";
import type { LimitLine } from "../../inventory/allowances";
import type { SkuHold } from "../../inventory/inventory.holds";
import type { PaymentAction } from "../../payments/gateway";
import type { Money } from "../../shared/money";

/** An order as the shard keeps it: what checkout accepted, and where its lifecycle stands. */
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];
/** Where the order's held units are: held (may expire), pinned (until decided), or settled. */
export type StockState = "held" | "pinned" | "committed" | "released";

/** A dispute (chargeback) the buyer's bank opened on the order's charge, as the gateway last told it. */
export type Dispute = { id: string; status: string; reason: string; amount: Money };

type OrderItem = { sku: string; productId: string; title: string; quantity: number; unitPrice: Money };

/** An order as checkout accepted it: nothing here changes afterwards. */
export type AcceptedOrder = {
  id: string;
  keyHash: string;
  tokenHash: string;
  items: OrderItem[];
  total: Money;
  customer: { email: string; name?: string };
  shippingAddress?: Record<string, string>;
  paymentToken: string;
  /** The limits per customer the paying card is counted against too, when the gateway names it. */
  cardLimits?: LimitLine[];
  holds: SkuHold[];
  holdExpiresAt: string;
  createdAt: string;
};

export type OrderRow = AcceptedOrder & {
  /** Every hold of the order: checkout's, and the paying card's allowance once the payment took it. */
  holds: SkuHold[];
  status: OrderStatus;
  failureReason: string | null;
  paymentStatus: PaymentStatus;
  /** Attempts handed to the payment consumer. */
  attempts: number;
  /** Attempts whose outcome never became known: until a lookup, a charge may exist. */
  unknownAttempts: number;
  /** While an attempt is out with the consumer, no other is handed out and no decision waits on time. */
  leaseUntil: number | null;
  chargeId: string | null;
  intentId: string | null;
  /** A charge may have been made and nobody has since asked the gateway whether it was. */
  chargeInDoubt: boolean;
  /** What the buyer must do to complete an open payment (3-D Secure), and until when. */
  action: PaymentAction | null;
  actionUntil: number | null;
  /** When the gateway (or the buyer) last said the payment changed: the next look comes at once. */
  eventAt: number | null;
  /** Minor units refunded so far (from the gateway's own record, so never counted twice). */
  refunded: number;
  dispute: Dispute | null;
  stock: StockState;
  updatedAt: string;
  dueAt: number | null;
  dueAttempts: number;
  version: number;
  projected: number;
};

/**
 * The row `insertOrder` writes, as `order` reads it back, built without reading it back (checkout's
 * hot path): keep it in step with the INSERT's values and the columns' defaults.
 */
export function acceptedRow(order: AcceptedOrder, dueAt: number): OrderRow {
  return {
    ...order,
    status: "pending_payment",
    failureReason: null,
    paymentStatus: "pending",
    attempts: 0,
    unknownAttempts: 0,
    leaseUntil: null,
    chargeId: null,
    intentId: null,
    chargeInDoubt: false,
    action: null,
    actionUntil: null,
    eventAt: null,
    refunded: 0,
    dispute: null,
    stock: "held",
    updatedAt: order.createdAt,
    dueAt,
    dueAttempts: 0,
    version: 1,
    projected: 0,
  };
}

/** The lifecycle columns a decision may change; `version` moves with every change. */
export type OrderChange = Partial<
  Pick<
    OrderRow,
    | "status"
    | "failureReason"
    | "paymentStatus"
    | "attempts"
    | "unknownAttempts"
    | "leaseUntil"
    | "chargeId"
    | "intentId"
    | "chargeInDoubt"
    | "action"
    | "actionUntil"
    | "eventAt"
    | "refunded"
    | "dispute"
    | "holds"
    | "stock"
    | "dueAt"
    | "dueAttempts"
  >
>;
