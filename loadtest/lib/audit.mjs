// The proof after the storm, from the admin API and the simulator's ledger: nothing oversold,
// nothing lost, no one charged twice, nothing stuck, stock conserved, no hold left behind.
import { readFileSync } from "node:fs";

/** What the audit compares against: stock of the watched SKUs before the run. */
export async function baseline(api, skus) {
  const before = {};
  const at = new Date().toISOString();
  for (const sku of skus) {
    const detail = await api.inventory(sku);
    before[sku] = {
      onHand: detail.onHand,
      committed: detail.committed,
      adjusted: detail.conservation.adjusted,
      at,
    };
  }
  return before;
}

/**
 * Waits until no order is pending and no watched SKU holds stock for anyone (holds of requests cut
 * off mid-way expire by their alarms), running the reconciler as it goes; answers what remains.
 */
export async function drain(api, { deadlineMs, log, watch = [] }) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const pending = (await api.orders("pending_payment")).length;
    let held = 0;
    let moving = 0;
    if (pending === 0) {
      for (const sku of watch) {
        const detail = await api.inventory(sku);
        held += detail.reserved;
        moving += detail.conservation.inTransit;
      }
    }
    if ((pending === 0 && held === 0 && moving === 0) || Date.now() > deadline)
      return { pending, held, moving };
    log(`drain: ${pending} orders pending, ${held} units held, ${moving} moving between buckets`);
    await api.reconcile().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export async function audit(api, { before, acceptedFile, simulator = true }) {
  const orders = await api.orders();
  const byId = new Map(orders.map((order) => [order.id, order]));
  const accepted = acceptedFile
    ? [...new Set(readFileSync(acceptedFile, "utf8").split("\n").filter(Boolean))]
    : [];
  const terminal = new Set(["paid", "payment_failed", "cancelled"]);
  const lost = accepted.filter((id) => !terminal.has(byId.get(id)?.status)).length;
  const stuck = orders.filter((order) => order.status === "pending_payment").length;

  let oversold = 0;
  let leakedHolds = 0;
  const conservation = {};
  for (const [sku, start] of Object.entries(before)) {
    const now = await api.inventory(sku);
    const adjustments = now.conservation.adjusted - start.adjusted;
    // Units an order keeps: what it bought, less what its refunds put back on the shelf.
    const unitsOf = (list) =>
      list.reduce((n, order) => {
        const bought = order.items
          .filter((item) => item.sku === sku)
          .reduce((m, item) => m + item.quantity, 0);
        const back = (order.refunds ?? [])
          .filter((refund) => refund.restocked)
          .flatMap((refund) => refund.lines ?? [])
          .filter((line) => line.sku === sku)
          .reduce((m, line) => m + line.quantity, 0);
        return n + bought - back;
      }, 0);
    const paid = orders.filter((order) => order.status === "paid");
    const paidUnits = unitsOf(paid);
    const paidDuringRun = unitsOf(paid.filter((order) => order.createdAt >= start.at));
    const sold = now.committed - start.committed;
    const stock = start.onHand + adjustments;
    oversold += Math.max(0, paidUnits - stock) + Math.max(0, sold - stock);
    if (stuck === 0) leakedHolds += now.reserved;
    // The server's own books (every bucket, every move between buckets), checked beside ours.
    const books = now.conservation;
    const problems = [
      ...(books.balanced ? [] : books.problems),
      ...(books.inTransit === 0 ? [] : [`${books.inTransit} units still moving between buckets`]),
      ...(books.stranded === 0 ? [] : [`${books.stranded} free units where checkout does not walk`]),
      ...(now.onHand + now.committed === start.onHand + start.committed + adjustments
        ? []
        : ["on hand + committed is not what the run started with plus adjustments"]),
      ...(sold === paidDuringRun
        ? []
        : [`${sold} units sold but ${paidDuringRun} paid for (less units refunded back)`]),
      ...(now.available >= 0 ? [] : ["available below zero"]),
    ];
    conservation[sku] = {
      ok: problems.length === 0,
      problems,
      onHand: now.onHand,
      committed: now.committed,
      reserved: now.reserved,
      sold,
      paidUnits: paidDuringRun,
      initial: start.onHand,
    };
  }

  let doubleCharged = 0;
  // Money agrees: what the gateway refunded of each order's charge is what the order says it refunded.
  let refundsMismatched = 0;
  if (simulator) {
    const charges = await api.charges();
    for (const charge of charges) {
      const order = byId.get(charge.orderId);
      const refunded = charge.refunded?.amount ?? (charge.status === "refunded" ? charge.amount.amount : 0);
      if (order?.status !== "paid") continue;
      const made = (order.refunds ?? [])
        .filter((refund) => refund.status === "succeeded")
        .reduce((n, refund) => n + refund.amount.amount, 0);
      if (refunded !== Math.max(made, order.payment.refunded?.amount ?? 0)) refundsMismatched++;
    }
    const live = new Map();
    for (const charge of charges.filter((c) => c.status === "succeeded")) {
      live.set(charge.orderId, (live.get(charge.orderId) ?? 0) + 1);
    }
    for (const [orderId, count] of live) {
      const status = byId.get(orderId)?.status;
      if (count > 1 || (status && status !== "paid" && status !== "pending_payment")) doubleCharged++;
    }
  }

  const conserved = Object.values(conservation).every((entry) => entry.ok);
  return {
    oversold,
    lost,
    double_charged: doubleCharged,
    refunds_mismatched: refundsMismatched,
    stuck,
    leaked_holds: leakedHolds,
    conserved,
    accepted: accepted.length,
    orders: orders.length,
    paid: orders.filter((o) => o.status === "paid").length,
    conservation,
    passed:
      oversold === 0 &&
      lost === 0 &&
      doubleCharged === 0 &&
      refundsMismatched === 0 &&
      stuck === 0 &&
      leakedHolds === 0 &&
      conserved,
  };
}

export function auditLine(result) {
  return (
    `audit: oversold=${result.oversold} lost=${result.lost} double_charged=${result.double_charged} ` +
    `refunds_mismatched=${result.refunds_mismatched ?? 0} ` +
    `stuck=${result.stuck} leaked_holds=${result.leaked_holds} conserved=${result.conserved} ` +
    `(accepted=${result.accepted} orders=${result.orders} paid=${result.paid})`
  );
}
