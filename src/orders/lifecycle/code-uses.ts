import type { Lifecycle, OrderRow } from "./order";

/**
 * A discount code's use given back when its order is undone (pure; the shard makes the step, see
 * steps.ts `returnUsesStep`). A code made with `returnUseOnRefund` says so, and checkout snapshots the
 * rule into the order's pricing, so a later change of the code never changes what an accepted order
 * gets. Its use is the holds checkout and the payment took for the code, each marked with it (see
 * SkuHold.code): one of the code's total cap, the customer's allowance of it, the card's. They were
 * committed with the order's stock when it was paid; giving the use back returns each of them to
 * its allowance object exactly as a refund returns units to stock (SkuInventory.restock: once under
 * its key, so the same step made again, by the alarm or after a restart, returns nothing twice).
 * Purchase limits of SKUs are not the code's and are never given back here.
 */

/** What the rule reads of an order: what checkout accepted and where its lifecycle stands. */
export type UsesView = Lifecycle & Pick<OrderRow, "pricing" | "total">;

/**
 * Undone in full: the refunds the gateway made add up to what was captured (one refund or several,
 * made here or in the gateway's dashboard; the shop's cancel of a paid order refunds all that is
 * left, so it gets here too). Money alone decides: a cancel whose earlier refund failed has not
 * given everything back, and keeps the use.
 */
const fullyRefunded = (order: UsesView) => order.refunded >= order.total.amount;

/** Holds that count the order's use of its code. */
const useHolds = (order: Pick<Lifecycle, "holds">) => order.holds.filter((hold) => hold.code !== undefined);

/**
 * Whether a paid order may have its code's use back: its code said so at checkout and it is undone in
 * full. (Invariant, checked on every write: `usesReturned` is never set on any other order.)
 */
export const usesReturnable = (order: UsesView) =>
  order.status === "paid" && order.pricing?.returnUseOnRefund === true && fullyRefunded(order);

/** Whether the order still owes its code's use back. */
export const usesOwed = (order: UsesView) =>
  usesReturnable(order) && !order.usesReturned && useHolds(order).length > 0;

/** A share of a use to return to one allowance object, once under its key. */
export type UseShare = { key: string; orderId: string; sku: string; bucket: number; quantity: number };

/**
 * Where the use goes back: every bucket of every hold marked with the code, what it holds of the order,
 * under a key of the order and the object alone (the use goes back once, so the key never repeats).
 */
export function useShares(order: Pick<OrderRow, "id" | "holds">): UseShare[] {
  return useHolds(order).flatMap((hold) =>
    hold.buckets.map(({ bucket, quantity }) => ({
      key: `${order.id}:use:${hold.sku}#${bucket}`,
      orderId: order.id,
      sku: hold.sku,
      bucket,
      quantity,
    })),
  );
}
