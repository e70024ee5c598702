/**
 * The order loop's boundary: the messages and answers that cross between its parts (the worker, the
 * order shards, the payment consumer, the gateways) and the one file other folders import from it.
 */
import { z } from "zod";
import { Allowance, LimitLine } from "../inventory/allowances";
import { Money } from "../shared/money";

export { EVENT_TYPES, EventType, OrderEvent } from "./events.schemas";
export { IntakeCounts, Order, OrderListQuery, OrderPage } from "./orders.schemas";
export { listOrders, orderSummary } from "./orders.storage";
export { intakeCounts, pingOrderIntake, reconcile } from "./reconcile";

/** Arguments crossing into an order shard are checked there too: the shard trusts no caller. */
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
  customer: z.object({ email: z.string().min(3).max(254), name: z.string().max(200).optional() }),
  shippingAddress: z.record(z.string(), z.string().max(200)).optional(),
  paymentToken: z.string().min(1).max(255),
  // The cart's limits per customer (one per limited SKU or product), for the paying card's allowance.
  cardLimits: z.array(LimitLine).max(100).optional(),
});
export type IntakeInput = z.input<typeof IntakeInput>;

export const OrderId = z.string().min(1).max(64);
export const OrderIds = z.array(OrderId).max(1000);

const PaymentAction = z.discriminatedUnion("type", [
  z.object({ type: z.literal("use_stripe_sdk"), clientSecret: z.string().min(1).max(500) }),
  z.object({ type: z.literal("redirect_to_url"), url: z.string().min(1).max(2000) }),
]);

const Outcome = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("charged"), chargeId: z.string().min(1), intentId: z.string().optional() }),
  z.object({
    kind: z.literal("declined"),
    reason: z.string().max(500),
    lookedUp: z.boolean(),
    intentId: z.string().optional(),
  }),
  z.object({ kind: z.literal("no_charge"), lookedUp: z.literal(true) }),
  z.object({ kind: z.literal("lapsed"), lookedUp: z.boolean() }),
  z.object({ kind: z.literal("unknown"), reason: z.string().max(500), intentId: z.string().optional() }),
  z.object({
    kind: z.literal("not_attempted"),
    reason: z.string().max(500),
    retryAfterMs: z.number().int().min(0).max(86_400_000).optional(),
  }),
  z.object({ kind: z.literal("requires_action"), action: PaymentAction, intentId: z.string().optional() }),
  z.object({ kind: z.literal("processing"), intentId: z.string().optional() }),
  z.object({
    kind: z.literal("limit_exceeded"),
    limit: LimitLine.shape.limit,
    remaining: z.number().int().min(0),
    inDoubt: z.boolean(),
  }),
]);

/** A hold on a card allowance object, taken by the payment consumer under the order's id. */
const CardHold = z.object({
  sku: z.string().min(1).max(64),
  allowance: z.literal("card"),
  quantity: z.number().int().min(1).max(1_000_000),
  expiresAt: z.iso.datetime(),
  buckets: z.array(z.object({ bucket: z.literal(0), quantity: z.number().int().min(1) })).length(1),
});

export const PaymentReports = z
  .array(
    z.object({
      orderId: OrderId,
      attempt: z.number().int().min(1),
      pinned: z.boolean(),
      outcome: Outcome,
      cardHolds: z.array(CardHold).max(100).optional(),
    }),
  )
  .max(1000);

const MinorUnits = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Currency = z.string().regex(/^[A-Z]{3}$/);

/** A payment gateway's event about one order, as a webhook names it. */
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
  .strict();
