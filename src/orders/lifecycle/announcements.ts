import type { EventType } from "../events.schemas";
import type { Lifecycle } from "./order";

/** The statuses an order is announced moving to. */
const STATUS_EVENTS: Partial<Record<Lifecycle["status"], EventType>> = {
  paid: "order.paid",
  payment_failed: "order.payment_failed",
  cancelled: "order.cancelled",
};

/**
 * The events a change of an order announces to the shop's webhooks, judged against the order before
 * it: one per status it moves to, and `order.refunded` once its payment is refunded in full. An order
 * checkout accepts announces `order.created`. The shard writes them in the change's own transaction.
 */
export function announcements(before: Lifecycle | null, after: Lifecycle): EventType[] {
  if (!before) return ["order.created"];
  const events: EventType[] = [];
  const announced = STATUS_EVENTS[after.status];
  if (announced && after.status !== before.status) events.push(announced);
  if (after.paymentStatus === "refunded" && before.paymentStatus !== "refunded")
    events.push("order.refunded");
  return events;
}
