import { lineRefund } from "../../pricing/pricing";
import {
  type Fulfillment,
  type Lifecycle,
  type LineQuantity,
  lifecycleOf,
  type OrderRow,
  type Refund,
} from "./order";

export type { Fulfillment, LineQuantity, Refund };

/**
 * The day after the sale, as the machine decides it: refunds (by amount or by lines, with or without
 * the units going back to stock), the cancel of a paid order that has not shipped (a full refund with
 * every unit back), and fulfilments (lines shipped with a carrier and a tracking number). All pure: the
 * shard applies each decision in the transaction that reads the order, like every other.
 */

export type FulfillmentStatus = "unfulfilled" | "partially_fulfilled" | "fulfilled";

/** What the shop asks to refund: an amount, lines, or (neither) all that is left. */
export type RefundRequest = {
  id: string;
  keyHash: string;
  fingerprint: string;
  amount?: number;
  /** The currency `amount` is in: the order's, or the refund is refused. */
  currency?: string;
  lines?: LineQuantity[];
  restock: boolean;
  reason?: string;
  cancel?: boolean;
};

export type FulfillmentRequest = {
  id: string;
  lines?: LineQuantity[];
  carrier: string;
  trackingNumber: string;
  trackingUrl?: string;
};

/** Why a refund or fulfilment is refused, by the code the API answers with. */
export type AfterSaleRefusal =
  | { code: "order_not_refundable"; detail: string }
  | { code: "refund_exceeds_captured"; detail: string; left: number }
  | { code: "idempotency_key_mismatch"; detail: string }
  | { code: "order_not_fulfillable"; detail: string }
  | { code: "order_not_cancellable"; detail: string };

const sumBy = <T>(items: T[], of: (item: T) => number) => items.reduce((sum, item) => sum + of(item), 0);

/** What the line arithmetic reads of an order: as the shard keeps it, or as the API shows it. */
type Lines = {
  items: { sku: string; quantity: number; unitPrice: { amount: number } }[];
  pricing?: { lines: { sku: string; charged: number }[] };
  refunds: { status: string; lines?: LineQuantity[] | null }[];
  fulfillments: { lines: LineQuantity[] }[];
};

/** Refunds that count against the charge: made, or on their way. */
const standing = <T extends { status: string }>(order: { refunds: T[] }) =>
  order.refunds.filter((refund) => refund.status !== "failed");

/**
 * What is refunded or promised: the refunds made here that stand, or what the gateway reported
 * refunded (a refund made in its dashboard), whichever is more, plus those still on their way.
 */
function refundedOrPromised(order: Pick<Lifecycle, "refunds" | "refunded">): number {
  const refunds = standing(order);
  const made = sumBy(
    refunds.filter((refund) => refund.status === "succeeded"),
    (refund) => refund.amount,
  );
  const pending = sumBy(
    refunds.filter((refund) => refund.status === "pending"),
    (refund) => refund.amount,
  );
  return Math.max(made, order.refunded) + pending;
}

/** Minor units that can still be refunded of a paid order's charge. */
function refundable(order: OrderRow): number {
  if (order.status !== "paid" || order.paymentStatus !== "succeeded") return 0;
  return Math.max(0, order.total.amount - refundedOrPromised(order));
}

/**
 * Per SKU: what was bought, what the line was charged (after its discount, with its tax; its price
 * times its units for an order priced before discounts and tax), refunded (by lines), shipped.
 */
export function lineBook(order: Lines) {
  const charged = new Map(order.pricing?.lines.map((line) => [line.sku, line.charged]));
  const book = new Map(
    order.items.map((item) => [
      item.sku,
      {
        quantity: item.quantity,
        charged: charged.get(item.sku) ?? item.quantity * item.unitPrice.amount,
        refunded: 0,
        fulfilled: 0,
      },
    ]),
  );
  for (const refund of standing(order)) {
    for (const line of refund.lines ?? []) {
      const entry = book.get(line.sku);
      if (entry) entry.refunded += line.quantity;
    }
  }
  for (const fulfillment of order.fulfillments) {
    for (const line of fulfillment.lines) {
      const entry = book.get(line.sku);
      if (entry) entry.fulfilled += line.quantity;
    }
  }
  return book;
}

/** Units of each line that can still ship: bought, less shipped, less refunded (never below 0). */
export function unshipped(order: Lines): LineQuantity[] {
  return [...lineBook(order)]
    .map(([sku, line]) => ({ sku, quantity: Math.max(0, line.quantity - line.fulfilled - line.refunded) }))
    .filter((line) => line.quantity > 0);
}

export function fulfillmentStatus(order: Lines): FulfillmentStatus {
  if (order.fulfillments.length === 0) return "unfulfilled";
  return unshipped(order).length === 0 ? "fulfilled" : "partially_fulfilled";
}

function merged(lines: LineQuantity[]): LineQuantity[] {
  const bySku = new Map<string, number>();
  for (const { sku, quantity } of lines) bySku.set(sku, (bySku.get(sku) ?? 0) + quantity);
  return [...bySku].map(([sku, quantity]) => ({ sku, quantity }));
}

/** What a refund request is, as a refund: its amount and lines worked out, or why it cannot be made. */
export function refundOf(
  order: OrderRow,
  request: RefundRequest,
  now: number,
): { refund: Refund } | { refusal: AfterSaleRefusal } {
  const earlier = order.refunds.find((refund) => refund.keyHash === request.keyHash);
  if (earlier) {
    return earlier.fingerprint === request.fingerprint
      ? { refund: earlier }
      : {
          refusal: {
            code: "idempotency_key_mismatch",
            detail: "This Idempotency-Key was used for another refund of this order",
          },
        };
  }
  if (order.status !== "paid" || order.paymentStatus !== "succeeded") {
    const detail =
      order.status !== "paid"
        ? `The order is ${order.status}: only a paid order is refunded`
        : "The order's charge is refunded in full already";
    return { refusal: { code: "order_not_refundable", detail } };
  }
  if (request.currency !== undefined && request.currency !== order.total.currency) {
    return {
      refusal: {
        code: "order_not_refundable",
        detail: `The order was paid in ${order.total.currency}, not ${request.currency}`,
      },
    };
  }
  const left = refundable(order);
  const book = lineBook(order);
  let lines: LineQuantity[] | null = null;
  let byLines = 0;
  // All that is left, back to stock: every unit not refunded yet.
  const asked =
    request.lines && request.lines.length > 0
      ? request.lines
      : request.restock && request.amount === undefined
        ? [...book]
            .map(([sku, line]) => ({ sku, quantity: line.quantity - line.refunded }))
            .filter((line) => line.quantity > 0)
        : [];
  if (asked.length > 0) {
    lines = merged(asked);
    for (const line of lines) {
      const entry = book.get(line.sku);
      if (!entry) {
        return {
          refusal: { code: "order_not_refundable", detail: `The order has no line for SKU ${line.sku}` },
        };
      }
      const open = entry.quantity - entry.refunded;
      if (line.quantity > open) {
        return {
          refusal: {
            code: "refund_exceeds_captured",
            detail: `Only ${open} of SKU ${line.sku} can still be refunded`,
            left,
          },
        };
      }
      // The line's share of what it was charged, counted on its units refunded in all (see pricing.ts).
      byLines += lineRefund(entry, entry.refunded, line.quantity);
    }
  }
  // Everything not refunded yet, back to stock, is all that is left of the charge (shipping included).
  const everything = !(request.lines && request.lines.length > 0) && request.amount === undefined;
  const amount = request.amount ?? (lines && !everything ? byLines : left);
  if (amount <= 0 || amount > left) {
    return {
      refusal: {
        code: "refund_exceeds_captured",
        detail: `${amount} is more than the ${left} left to refund of this order's charge`,
        left,
      },
    };
  }
  return {
    refund: {
      id: request.id,
      keyHash: request.keyHash,
      fingerprint: request.fingerprint,
      amount,
      lines,
      restock: request.restock && lines !== null,
      restocked: false,
      cancel: request.cancel === true,
      reason: request.reason ?? null,
      status: "pending",
      failure: null,
      createdAt: new Date(now).toISOString(),
      settledAt: null,
    },
  };
}

/**
 * A paid order that has not shipped is cancelled by refunding all that is left with every unit that
 * was not refunded yet going back to stock. Once anything shipped, refunds are made line by line.
 */
export function cancelRequest(
  order: OrderRow,
  base: Pick<RefundRequest, "id" | "keyHash" | "fingerprint">,
): { request: RefundRequest } | { refusal: AfterSaleRefusal } {
  if (order.status !== "paid") {
    return { refusal: { code: "order_not_cancellable", detail: `The order is ${order.status}` } };
  }
  // A cancel under way (or made) answers again; one the gateway refused is no cancel: try anew.
  const earlier = order.refunds.find((refund) => refund.cancel && refund.status !== "failed");
  if (earlier) {
    // Cancelling again answers the cancel made.
    return {
      request: {
        ...base,
        keyHash: earlier.keyHash,
        fingerprint: earlier.fingerprint,
        restock: true,
        cancel: true,
      },
    };
  }
  if (order.fulfillments.length > 0) {
    return {
      refusal: {
        code: "order_not_cancellable",
        detail: "Part of the order has shipped: refund its lines instead",
      },
    };
  }
  const lines = [...lineBook(order)]
    .map(([sku, line]) => ({ sku, quantity: line.quantity - line.refunded }))
    .filter((line) => line.quantity > 0);
  const left = refundable(order);
  if (left === 0) {
    return {
      refusal: { code: "order_not_cancellable", detail: "The order's charge is refunded in full already" },
    };
  }
  return {
    request: { ...base, ...(lines.length > 0 ? { lines } : {}), amount: left, restock: true, cancel: true },
  };
}

/** The order with a refund recorded (pending: the gateway is asked next). */
export function withRefund(order: Lifecycle, refund: Refund, now: number): Lifecycle {
  if (order.refunds.some((earlier) => earlier.id === refund.id)) return order;
  return {
    ...order,
    refunds: [...order.refunds, refund],
    dueAt: now,
    dueAttempts: 0,
  };
}

/** What the gateway answered for a pending refund. */
export type RefundAnswer =
  /** `chargeRefunded`: what the gateway says is refunded of the charge now, all refunds together. */
  | { status: "succeeded"; gatewayId: string | null; chargeRefunded?: number }
  | { status: "failed"; reason: string };

export function afterRefundAnswer(
  order: OrderRow,
  refundId: string,
  answer: RefundAnswer,
  now: number,
): Lifecycle {
  const refund = order.refunds.find((candidate) => candidate.id === refundId);
  if (refund?.status !== "pending") return lifecycleOf(order);
  const settledAt = new Date(now).toISOString();
  const settled: Refund =
    answer.status === "succeeded"
      ? { ...refund, status: "succeeded", settledAt, gatewayId: answer.gatewayId }
      : { ...refund, status: "failed", failure: answer.reason, settledAt };
  const refunds = order.refunds.map((candidate) => (candidate.id === refundId ? settled : candidate));
  const made = sumBy(
    refunds.filter((candidate) => candidate.status === "succeeded"),
    (candidate) => candidate.amount,
  );
  const reported = answer.status === "succeeded" ? (answer.chargeRefunded ?? 0) : 0;
  const refunded = Math.min(order.total.amount, Math.max(order.refunded, made, reported));
  // A cancel is made when its refund is: from then on the order never ships.
  const cancelled = answer.status === "succeeded" && refund.cancel && order.cancelledAt === null;
  return {
    ...lifecycleOf(order),
    refunds,
    refunded,
    paymentStatus: refunded >= order.total.amount ? "refunded" : order.paymentStatus,
    ...(cancelled ? { cancelledAt: settledAt } : {}),
  };
}

export function afterRestock(order: OrderRow, refundId: string): Lifecycle {
  return {
    ...lifecycleOf(order),
    refunds: order.refunds.map((refund) =>
      refund.id === refundId && refund.status === "succeeded" ? { ...refund, restocked: true } : refund,
    ),
  };
}

/** A refund whose money the gateway is still to be asked for. */
export const refundOwed = (order: Pick<Lifecycle, "refunds">) =>
  order.refunds.find((refund) => refund.status === "pending") ?? null;

/** A refund whose units are still to go back to stock. */
export const restockOwed = (order: Pick<Lifecycle, "refunds">) =>
  order.refunds.find((refund) => refund.status === "succeeded" && refund.restock && !refund.restocked) ??
  null;

/**
 * Where a refund's units go back: to the buckets that sold them, each bucket no more than it sold to
 * the order, after what the refunds before it put back there. The same refund always gets the same
 * share, so a restock made again asks each bucket for the same units under the same key.
 */
export function restockShares(
  order: Pick<OrderRow, "holds" | "refunds">,
  refundId: string,
): { sku: string; bucket: number; quantity: number }[] {
  const used = new Map<string, number>();
  for (const refund of order.refunds) {
    if (!refund.restock || refund.status === "failed") continue;
    const shares: { sku: string; bucket: number; quantity: number }[] = [];
    for (const line of refund.lines ?? []) {
      const hold = order.holds.find((candidate) => candidate.sku === line.sku && !candidate.allowance);
      let left = line.quantity;
      for (const { bucket, quantity } of hold?.buckets ?? []) {
        if (left === 0) break;
        const name = `${line.sku}#${bucket}`;
        const free = quantity - (used.get(name) ?? 0);
        const take = Math.min(free, left);
        if (take <= 0) continue;
        used.set(name, (used.get(name) ?? 0) + take);
        shares.push({ sku: line.sku, bucket, quantity: take });
        left -= take;
      }
    }
    if (refund.id === refundId) return shares;
  }
  return [];
}

/** A fulfilment of lines that can still ship, or why it cannot be made. */
export function fulfillmentOf(
  order: OrderRow,
  request: FulfillmentRequest,
  now: number,
): { fulfillment: Fulfillment; replayed: boolean } | { refusal: AfterSaleRefusal } {
  const earlier = order.fulfillments.find(
    (fulfillment) =>
      fulfillment.trackingNumber === request.trackingNumber && fulfillment.carrier === request.carrier,
  );
  if (earlier) {
    const asked = request.lines && request.lines.length > 0 ? merged(request.lines) : null;
    const sorted = (lines: LineQuantity[]) =>
      JSON.stringify([...lines].sort((a, b) => a.sku.localeCompare(b.sku)));
    if (asked === null || sorted(asked) === sorted(earlier.lines))
      return { fulfillment: earlier, replayed: true };
    return {
      refusal: {
        code: "order_not_fulfillable",
        detail: `${request.carrier} ${request.trackingNumber} already shipped other lines of this order: one fulfilment per parcel`,
      },
    };
  }
  if (order.status !== "paid") {
    return {
      refusal: {
        code: "order_not_fulfillable",
        detail: `The order is ${order.status}: only a paid order ships`,
      },
    };
  }
  if (
    order.cancelledAt !== null ||
    order.refunds.some((refund) => refund.cancel && refund.status === "pending")
  ) {
    return { refusal: { code: "order_not_fulfillable", detail: "The order was cancelled" } };
  }
  const open = new Map(unshipped(order).map((line) => [line.sku, line.quantity]));
  const lines = request.lines && request.lines.length > 0 ? merged(request.lines) : unshipped(order);
  if (lines.length === 0) {
    return { refusal: { code: "order_not_fulfillable", detail: "Nothing of the order is left to ship" } };
  }
  for (const line of lines) {
    const left = open.get(line.sku) ?? 0;
    if (line.quantity > left) {
      return {
        refusal: {
          code: "order_not_fulfillable",
          detail: `Only ${left} of SKU ${line.sku} can still ship (bought, less shipped and refunded)`,
        },
      };
    }
  }
  return {
    fulfillment: {
      id: request.id,
      lines,
      carrier: request.carrier,
      trackingNumber: request.trackingNumber,
      trackingUrl: request.trackingUrl ?? null,
      createdAt: new Date(now).toISOString(),
    },
    replayed: false,
  };
}
