import { describe, expect, it } from "vitest";
import { announcements } from "../../src/orders/lifecycle/announcements";
import { decide, type LifecycleEvent } from "../../src/orders/lifecycle/decide";
import { checkOrder, InvariantViolation } from "../../src/orders/lifecycle/invariants";
import { type AcceptedOrder, acceptedLifecycle, type OrderRow } from "../../src/orders/lifecycle/order";
import { owedWork, stateOf } from "../../src/orders/lifecycle/states";
import type { DecideContext } from "../../src/orders/lifecycle/timing";
import type { PaymentReport } from "../../src/orders/protocol";

/** The lifecycle machine alone: no workerd, no I/O, a fixed clock. */
const T0 = Date.UTC(2026, 11, 6, 12);
const ctx = (now = T0): DecideContext => ({
  now,
  random: () => 0.5,
  settings: { maxAttempts: 8, retryBaseMs: 1000, retryCapMs: 60_000, actionMs: 600_000 },
});

function accepted(): OrderRow {
  const order: AcceptedOrder = {
    id: "o-1",
    keyHash: "0".repeat(64),
    tokenHash: "1".repeat(64),
    items: [
      { sku: "S", productId: "p", title: "Tee", quantity: 1, unitPrice: { amount: 500, currency: "USD" } },
    ],
    total: { amount: 500, currency: "USD" },
    customer: { email: "a@example.com" },
    paymentToken: "tok_ok",
    holds: [
      {
        sku: "S",
        quantity: 1,
        expiresAt: new Date(T0 + 900_000).toISOString(),
        buckets: [{ bucket: 0, quantity: 1 }],
      },
    ],
    holdExpiresAt: new Date(T0 + 900_000).toISOString(),
    createdAt: new Date(T0).toISOString(),
  };
  return {
    ...order,
    ...acceptedLifecycle(order, T0 + 10_000),
    updatedAt: order.createdAt,
    version: 1,
    projected: 0,
  };
}

/** Applies events in turn, checking every invariant on every step as the shard does. */
function run(order: OrderRow, events: LifecycleEvent[], now = T0): OrderRow {
  let row = order;
  for (const event of events) {
    const next: OrderRow = { ...row, ...decide(row, event, ctx(now)).next };
    checkOrder(row, next, now);
    row = next;
  }
  return row;
}

const report = (row: OrderRow, outcome: PaymentReport["outcome"]): LifecycleEvent => ({
  type: "report",
  report: { orderId: row.id, attempt: row.attempts, pinned: true, taskHolds: row.holds.length, outcome },
});

describe("the lifecycle machine", () => {
  it("hands out one attempt at a time, under a lease", () => {
    const order = accepted();
    const first = decide(order, { type: "begin" }, ctx());
    expect(first.task).toMatchObject({ attempt: 1, mode: "charge", mustLookup: false });
    const begun = { ...order, ...first.next };
    expect(stateOf(begun).name).toBe("attempt_out");
    expect(decide(begun, { type: "begin" }, ctx()).task).toBeNull();
    // Once the lease runs out the attempt counts as unknown, and the next one asks the gateway first.
    const lapsed = decide(begun, { type: "begin" }, ctx(T0 + 61_000));
    expect(lapsed.task).toMatchObject({ attempt: 2, mustLookup: true });
  });

  it("pays an order once its units are sold, and announces it once", () => {
    let row = run(accepted(), [{ type: "begin" }]);
    row = run(row, [report(row, { kind: "charged", chargeId: "ch_1" })]);
    expect(stateOf(row).name).toBe("charged");
    expect(owedWork(row, T0)).toBe("commit");
    const paid = run(row, [{ type: "stock", step: { kind: "sold" } }]);
    expect(paid).toMatchObject({ status: "paid", stock: "committed", paymentStatus: "succeeded" });
    expect(announcements(row, { ...row, ...paid })).toEqual([{ type: "order.paid" }]);
    expect(owedWork(paid, T0)).toBeNull();
  });

  it("keeps the doubt after unknown attempts when a decline closes the order, until the gateway withdraws", () => {
    let row = run(accepted(), [{ type: "begin" }]);
    row = run(row, [report(row, { kind: "unknown", reason: "timeout" })]);
    row = run(row, [{ type: "begin" }]);
    row = run(row, [report(row, { kind: "declined", reason: "card_declined", lookedUp: true })]);
    // An earlier attempt's charge may still land: the payment is looked for and withdrawn.
    expect(row).toMatchObject({ status: "payment_failed", chargeInDoubt: true });
    expect(owedWork(row, T0)).toBe("release");
    row = run(row, [{ type: "stock", step: { kind: "released" } }]);
    expect(owedWork(row, T0)).toBe("verify");
    const withdrawn = run(row, [{ type: "verified", found: { status: "none" } }]);
    expect(withdrawn.chargeInDoubt).toBe(false);
  });

  it("clears the doubt at once when the last attempt withdrew the payment", () => {
    let row = accepted();
    for (let attempt = 0; attempt < 8; attempt++) {
      row = run(row, [{ type: "begin" }]);
      row = run(row, [report(row, { kind: "unknown", reason: "timeout" })]);
    }
    const last = decide(row, { type: "begin" }, ctx());
    expect(last.task?.mode).toBe("withdraw");
    row = { ...row, ...last.next };
    row = run(row, [report(row, { kind: "no_charge" })]);
    expect(row).toMatchObject({ status: "payment_failed", chargeInDoubt: false, paymentStatus: "failed" });
  });

  it("never lets time close an order whose charge may exist", () => {
    let row = run(accepted(), [{ type: "begin" }]);
    row = run(row, [report(row, { kind: "unknown", reason: "timeout" })]);
    const late = T0 + 3_600_000;
    expect(owedWork(row, late)).toBe("pay");
    expect(decide(row, { type: "tick" }, ctx(late)).next.status).toBe("pending_payment");
  });

  it("closes an order whose hold ran out before any payment began", () => {
    const late = T0 + 3_600_000;
    const row = run(accepted(), [{ type: "tick" }], late);
    expect(row).toMatchObject({ status: "payment_failed", paymentStatus: "failed", chargeInDoubt: false });
    expect(owedWork(row, late)).toBe("release");
  });

  it("refunds a charge that lands on a cancelled order, and tells the shop once", () => {
    let row = run(accepted(), [{ type: "begin" }, { type: "cancel" }]);
    expect(row).toMatchObject({ status: "cancelled", chargeInDoubt: true });
    row = run(row, [{ type: "stock", step: { kind: "released" } }]);
    row = run(row, [report(row, { kind: "charged", chargeId: "ch_9" })]);
    expect(owedWork(row, T0)).toBe("refund");
    const refunded = run(row, [{ type: "refunded" }]);
    expect(announcements(row, { ...row, ...refunded })).toEqual([{ type: "order.refunded" }]);
  });

  it("refuses to write a second charge over the first, or a terminal status changing", () => {
    let row = run(accepted(), [{ type: "begin" }]);
    row = run(row, [report(row, { kind: "charged", chargeId: "ch_1" })]);
    const second = { ...row, ...decide(row, report(row, { kind: "charged", chargeId: "ch_2" }), ctx()).next };
    expect(() => checkOrder(row, second, T0)).toThrow(InvariantViolation);
    const paid = run(row, [{ type: "stock", step: { kind: "sold" } }]);
    expect(() => checkOrder(paid, { ...paid, status: "cancelled" }, T0)).toThrow(/terminal status/);
  });
});

describe("a charged order told of a refund before its units are sold (a draw's winner)", () => {
  /** As OrderLoop.acceptDrawn records a draw's winner: charged, its unit pinned, owing the commit. */
  function charged(): OrderRow {
    const order = accepted();
    const row: OrderRow = {
      ...order,
      paymentStatus: "succeeded",
      stock: "pinned",
      attempts: 1,
      chargeId: "pi_1",
      intentId: "pi_1",
    };
    checkOrder(null, row, T0);
    return row;
  }
  const refunded = (amount: number): LifecycleEvent => ({
    type: "gateway_event",
    kind: "charge.refunded",
    detail: { refunded: { amount, currency: "USD" } },
  });

  it("is paid and refunded once sold, and announces both", () => {
    const before = run(charged(), [refunded(500)]);
    expect(before).toMatchObject({ status: "pending_payment", refunded: 500, paymentStatus: "succeeded" });
    const sold = run(before, [{ type: "stock", step: { kind: "sold" } }]);
    expect(sold).toMatchObject({ status: "paid", stock: "committed", paymentStatus: "refunded" });
    expect(announcements(before, sold).map((event) => event.type)).toEqual(["order.paid", "order.refunded"]);
  });

  it("stays succeeded when the refund was in part", () => {
    const sold = run(charged(), [refunded(200), { type: "stock", step: { kind: "sold" } }]);
    expect(sold).toMatchObject({ status: "paid", refunded: 200, paymentStatus: "succeeded" });
  });
});
