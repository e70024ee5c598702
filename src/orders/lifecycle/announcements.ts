import type { OrderEventType as EventType } from "../events.schemas";
import { type Fulfillment, fulfillmentStatus, type Refund } from "./after-sale";
import type { Lifecycle, OrderRow } from "./order";

/** The statuses an order is announced moving to. */
const STATUS_EVENTS: Partial<Record<Lifecycle["status"], EventType>> = {
  paid: "order.paid",
  payment_failed: "order.payment_failed",
  cancelled: "order.cancelled",
};

/** An event a change announces, with what it is about beyond the order: a refund, a fulfilment. */
export type Announcement = { type: EventType; refund?: Refund; fulfillment?: Fulfillment };

/**
 * The events a change of an order announces to the shop's webhooks and the buyer's emails, judged
 * against the order before it: one per status it moves to; `order.cancelled` when the shop cancels a
 * paid order; `order.refunded` for each refund the gateway made (and once for a charge refunded in full
 * from elsewhere, such as the gateway's dashboard); `order.fulfilled` or `order.partially_fulfilled` for
 * each fulfilment. An order checkout accepts announces `order.created`. The shard writes them in the
 * change's own transaction.
 */
export function announcements(before: OrderRow | null, after: OrderRow): Announcement[] {
  if (!before) return [{ type: "order.created" }];
  const events: Announcement[] = [];
  const announced = STATUS_EVENTS[after.status];
  if (announced && after.status !== before.status) events.push({ type: announced });
  if (after.cancelledAt !== null && before.cancelledAt === null) events.push({ type: "order.cancelled" });
  const madeBefore = new Set(
    before.refunds.filter((refund) => refund.status === "succeeded").map((refund) => refund.id),
  );
  const made = after.refunds.filter((refund) => refund.status === "succeeded" && !madeBefore.has(refund.id));
  for (const refund of made) events.push({ type: "order.refunded", refund });
  // Refunded in full by the gateway's word alone (its dashboard): announced once. Not while a refund
  // of the shop's is on its way: the gateway reporting that very refund early is announced with it.
  const ours = after.refunds.some((refund) => refund.status === "pending") || made.length > 0;
  if (!ours && after.paymentStatus === "refunded" && before.paymentStatus !== "refunded")
    events.push({ type: "order.refunded" });
  const shipped = new Set(before.fulfillments.map((fulfillment) => fulfillment.id));
  for (const fulfillment of after.fulfillments.filter((candidate) => !shipped.has(candidate.id))) {
    const status = fulfillmentStatus(after);
    events.push({
      type: status === "fulfilled" ? "order.fulfilled" : "order.partially_fulfilled",
      fulfillment,
    });
  }
  return events;
}

const money = (amount: number, currency: string) => `${(amount / 100).toFixed(2)} ${currency}`;

/**
 * What a change adds to the order's timeline: each event it announces, in words, with what happened
 * between them that no event names (a payment attempt handed out, a refund asked for or refused, units
 * back in stock, a discount code's use given back).
 */
export function timelineNotes(
  before: OrderRow,
  after: OrderRow,
  announced: Announcement[],
): { event: string; detail: string | null }[] {
  const { currency } = after.total;
  const notes: { event: string; detail: string | null }[] = [];
  if (after.attempts > before.attempts)
    notes.push({ event: "payment_attempt", detail: `attempt ${after.attempts}` });
  const known = new Map(before.refunds.map((refund) => [refund.id, refund]));
  for (const refund of after.refunds) {
    const earlier = known.get(refund.id);
    if (!earlier) {
      const what = refund.lines?.map((line) => `${line.quantity} × ${line.sku}`).join(", ");
      notes.push({
        event: refund.cancel ? "cancel_requested" : "refund_requested",
        detail: `${money(refund.amount, currency)}${what ? ` for ${what}` : ""}${refund.restock ? ", back to stock" : ""}`,
      });
    } else if (refund.status === "failed" && earlier.status !== "failed") {
      notes.push({ event: "refund_failed", detail: refund.failure });
    } else if (refund.restocked && !earlier.restocked) {
      notes.push({
        event: "restocked",
        detail: refund.lines?.map((l) => `${l.quantity} × ${l.sku}`).join(", ") ?? null,
      });
    }
  }
  if (after.usesReturned && !before.usesReturned) {
    notes.push({ event: "code_use_returned", detail: after.pricing?.discountCode ?? null });
  }
  for (const { type, refund, fulfillment } of announced) {
    const event = type.replace(/^order\./, "");
    if (refund) notes.push({ event, detail: money(refund.amount, currency) });
    else if (fulfillment)
      notes.push({ event, detail: `${fulfillment.carrier} ${fulfillment.trackingNumber}` });
    else if (type === "order.payment_failed" || type === "order.cancelled")
      notes.push({ event, detail: after.failureReason });
    else notes.push({ event, detail: null });
  }
  return notes;
}
