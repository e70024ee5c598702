/**
 * The order loop's boundary: the messages and answers that cross between its parts (the worker's
 * checkout, the order shards, the payment consumer, the gateways' events), each defined once here,
 * and what other folders may use of orders/. Other folders import orders/ through this file alone.
 */
import { z } from "zod";
import { Allowance, LimitLine } from "../inventory/allowances";
import type { ShortSku, SkuHold } from "../inventory/inventory.holds";
import type { GatewayEvent } from "../payments/gateway";
import { CartPricingRecord } from "../pricing/cart-pricing.schemas";
import { Money } from "../shared/money";

export {
  type AfterSaleResult,
  FulfillArgs,
  type FulfillRow,
  FulfillRows,
  RefundArgs,
} from "./after-sale.args";
export { adminOrder, cancelByShop, fulfilOrder, refundOrder } from "./after-sale.service";
export { cancelDraw, drawStatus, drawTimeline, setUpDraw } from "./draw/draw.service";
export { EVENT_TYPES, EventType, ShopEvent } from "./events.schemas";
export { exportOrders, importFulfillments } from "./fulfillment-csv";
export {
  FULFILLMENT_STATUSES,
  Fulfillment,
  IntakeCounts,
  Order,
  OrderListQuery,
  OrderPage,
  OrderParams,
  Refund,
} from "./orders.schemas";
export { listOrders, orderSummary } from "./orders.storage";
export { type HealReport, intakeCounts, pingOrderIntake, reconcile } from "./reconcile";

/** Arguments crossing into an order shard are checked there too: the shard trusts no caller. */
export const OrderId = z.string().min(1).max(64);
export const OrderIds = z.array(OrderId).max(1000);

// ── Checkout → the key's shard ─────────────────────────────────────────────────────────────────

const Line = z.object({
  sku: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(1_000_000),
  buckets: z.number().int().min(1).max(32),
  // A customer's allowance of a limited SKU or product, or a drop's pass, and the limit it stands for.
  allowance: Allowance.optional(),
});

const Item = z.object({
  sku: z.string().min(1).max(64),
  productId: z.string().min(1).max(64),
  title: z.string().max(600),
  quantity: z.number().int().min(1).max(1_000_000),
  unitPrice: Money,
});

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** A checkout the edge decided it may take, for the key's shard to claim, hold and record. */
export const IntakeInput = z.object({
  key: z.string().min(1).max(255),
  keyHash: Hex64,
  fingerprint: Hex64,
  shard: z.number().int().min(0).max(1023),
  requestId: z.string().min(1).max(128),
  // The cart's lines (at most 50) and the customer's allowances they draw on (one per limit).
  lines: z.array(Line).min(1).max(150),
  items: z.array(Item).min(1).max(50),
  total: Money,
  pricing: CartPricingRecord.optional(),
  customer: z.object({ email: z.string().min(3).max(254), name: z.string().max(200).optional() }),
  shippingAddress: z.record(z.string(), z.string().max(200)).optional(),
  paymentToken: z.string().min(1).max(255),
  // The cart's limits per customer (one per limited SKU or product), for the paying card's allowance.
  cardLimits: z.array(LimitLine).max(100).optional(),
});
export type IntakeInput = z.input<typeof IntakeInput>;

/** The most keys one batched standing call asks about (see intake/standings.ts). */
export const STANDINGS_MAX = 100;

/** Keys whose standing the edge asks in one call before refusals that change nothing. */
export const StandingAsks = z
  .array(z.object({ key: z.string().min(1).max(255), keyHash: Hex64, fingerprint: Hex64 }))
  .min(1)
  .max(STANDINGS_MAX);
export type StandingAsk = z.input<typeof StandingAsks>[number];

/** An answer as it is stored under an Idempotency-Key and replayed: status, headers and body. */
export type StoredResponse = { status: number; headers: Record<string, string>; body: string };

/** What the shard made of a checkout: its answer (new or replayed), or why it gave none. */
export type IntakeAnswer =
  | { kind: "accepted" | "refused" | "replay"; response: StoredResponse; short?: ShortSku[]; timing: string }
  | { kind: "in_use"; retryAfterMs: number }
  | { kind: "mismatch" }
  | { kind: "unavailable"; reason: string };

/**
 * A key's standing when the edge is about to refuse a checkout without holding anything: `fresh` means
 * no order can be placed under the key by any request now in flight (a lapsed claim is fenced off first),
 * so the refusal contradicts nothing.
 */
export type KeyAnswer =
  | { kind: "fresh" }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "in_use"; retryAfterMs: number }
  | { kind: "mismatch" };

// ── Shard → the payments queue → the consumer ──────────────────────────────────────────────────

/** One message hands on the payments of up to a few hundred orders of one shard. */
export const PaymentMessage = z
  .object({ orders: z.array(z.string().min(1).max(64)).min(1).max(500) })
  .strict();

const PaymentAction = z.discriminatedUnion("type", [
  z.object({ type: z.literal("use_stripe_sdk"), clientSecret: z.string().min(1).max(500) }),
  z.object({ type: z.literal("redirect_to_url"), url: z.string().min(1).max(2000) }),
]);

/**
 * What the consumer is asked to do for one order: `charge` it (asking the gateway first when
 * `mustLookup`: an earlier attempt may have charged); `withdraw`: retries are over, so the payment is
 * withdrawn at the gateway (a charge still on its way is refused from then on) and answered as it is;
 * `follow`: the payment is open (the buyer acts, or it processes): ask how it stands, and withdraw it
 * once `actionUntil` has passed.
 */
export type PaymentTask = {
  orderId: string;
  attempt: number;
  mode: "charge" | "withdraw" | "follow";
  actionUntil: number | null;
  mustLookup: boolean;
  /** The order's holds are known to be pinned: none can expire while a charge may be in flight. */
  pinned: boolean;
  holds: SkuHold[];
  /**
   * The limits per customer the paying card must be within before anything is charged: the order's,
   * until its card allowance is held (a card the gateway gives no fingerprint for is counted by the
   * email alone, and asked about again at the next attempt).
   */
  cardLimits: LimitLine[];
  amount: Money;
  token: string;
  intentId: string | null;
};

// ── Consumer → the order's shard ───────────────────────────────────────────────────────────────

/** What came of one attempt, as the consumer reports it. */
const AttemptOutcome = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("charged"), chargeId: z.string().min(1), intentId: z.string().optional() }),
  z.object({
    kind: z.literal("declined"),
    reason: z.string().max(500),
    // The gateway was asked before this answer; `withdrawn`: the payment was withdrawn there, so no
    // charge can come of it any more (however late an earlier attempt's call arrives).
    lookedUp: z.boolean(),
    withdrawn: z.boolean().default(false),
    intentId: z.string().optional(),
  }),
  // Retries are over and the payment is withdrawn: no charge exists, and none can come of it.
  z.object({ kind: z.literal("no_charge") }),
  // The order's holds could no longer be pinned, so nothing was charged.
  z.object({ kind: z.literal("lapsed"), lookedUp: z.boolean() }),
  z.object({ kind: z.literal("unknown"), reason: z.string().max(500), intentId: z.string().optional() }),
  // Nothing was charged and nothing learned (inventory or gateway unreachable, the gateway's rate).
  z.object({
    kind: z.literal("not_attempted"),
    reason: z.string().max(500),
    retryAfterMs: z.number().int().min(0).max(86_400_000).optional(),
  }),
  // The payment is open: the buyer must act (until the order's `actionUntil`), or it is processing.
  z.object({ kind: z.literal("requires_action"), action: PaymentAction, intentId: z.string().optional() }),
  z.object({ kind: z.literal("processing"), intentId: z.string().optional() }),
  // The paying card is past a limit per customer; `inDoubt`: an earlier attempt's payment was found.
  z.object({
    kind: z.literal("limit_exceeded"),
    limit: LimitLine.shape.limit,
    remaining: z.number().int().min(0),
    inDoubt: z.boolean(),
  }),
]);
export type AttemptOutcome = z.input<typeof AttemptOutcome>;

/** A hold on a card allowance object, taken by the payment consumer under the order's id. */
const CardHold = z.object({
  sku: z.string().min(1).max(64),
  allowance: z.literal("card"),
  // The code whose use this card allowance counts, for an allowance of a discount code.
  code: z.string().min(1).max(64).optional(),
  quantity: z.number().int().min(1).max(1_000_000),
  expiresAt: z.iso.datetime(),
  buckets: z.array(z.object({ bucket: z.literal(0), quantity: z.number().int().min(1) })).length(1),
});

/**
 * One attempt's report. `pinned`: the attempt pinned every hold the task named (`taskHolds` of them:
 * the order's holds when the attempt began). `cardHolds`: the paying card's allowance, held under the
 * order's id by this attempt and not pinned (should the report be lost, it runs out by itself), to be
 * recorded with the order's holds.
 */
const PaymentReport = z.object({
  orderId: OrderId,
  attempt: z.number().int().min(1),
  pinned: z.boolean(),
  taskHolds: z.number().int().min(0).max(1000).optional(),
  outcome: AttemptOutcome,
  cardHolds: z.array(CardHold).max(100).optional(),
});
export type PaymentReport = Omit<z.input<typeof PaymentReport>, "cardHolds"> & { cardHolds?: SkuHold[] };
export const PaymentReports = z.array(PaymentReport).max(1000);

// ── A gateway's events → the order's shard ─────────────────────────────────────────────────────

const MinorUnits = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Currency = z.string().regex(/^[A-Z]{3}$/);

/** A payment gateway's event about one order, as a webhook (or the simulator) names it. */
export const GatewayEventArgs = z
  .object({
    eventId: z.string().min(1).max(255),
    orderId: OrderId,
    type: z.string().min(1).max(100),
    detail: z
      .union([
        z.object({ refunded: z.object({ amount: MinorUnits, currency: Currency }).strict() }).strict(),
        z
          .object({
            dispute: z
              .object({
                id: z.string().min(1).max(255),
                status: z.string().min(1).max(100),
                reason: z.string().max(200),
                amount: MinorUnits,
                currency: Currency,
              })
              .strict(),
          })
          .strict(),
      ])
      .optional(),
  })
  .strict() satisfies z.ZodType<GatewayEvent>;
