import { describe, expect, it } from "vitest";
import type { SkuHold } from "../../src/inventory/inventory.holds";
import type { RefundRequest } from "../../src/orders/lifecycle/after-sale";
import { useShares, usesOwed } from "../../src/orders/lifecycle/code-uses";
import { decide, type LifecycleEvent } from "../../src/orders/lifecycle/decide";
import { checkOrder, InvariantViolation } from "../../src/orders/lifecycle/invariants";
import { type AcceptedOrder, acceptedLifecycle, type OrderRow } from "../../src/orders/lifecycle/order";
import { owedWork } from "../../src/orders/lifecycle/states";
import type { DecideContext } from "../../src/orders/lifecycle/timing";

/** A code's use given back for a fully refunded order, as the machine decides it: no workerd, no I/O. */
const T0 = Date.UTC(2026, 11, 7, 12);
const ctx: DecideContext = {
  now: T0,
  random: () => 0.5,
  settings: { maxAttempts: 8, retryBaseMs: 1000, retryCapMs: 60_000, actionMs: 600_000 },
};
const expiresAt = new Date(T0 + 900_000).toISOString();
const hold = (sku: string, extra: Partial<SkuHold> = {}): SkuHold => ({
  sku,
  quantity: 1,
  expiresAt,
  buckets: [{ bucket: 0, quantity: 1 }],
  ...extra,
});

/** A paid order of 1000 with a code whose rule is `returnUseOnRefund` (or not). */
function paid(returnUseOnRefund: boolean, holds = codeHolds()): OrderRow {
  const order: AcceptedOrder = {
    id: "o-1",
    keyHash: "0".repeat(64),
    tokenHash: "1".repeat(64),
    items: [
      { sku: "S", productId: "p", title: "Tee", quantity: 2, unitPrice: { amount: 600, currency: "USD" } },
    ],
    total: { amount: 1000, currency: "USD" },
    pricing: {
      subtotal: 1200,
      discount: 200,
      shipping: 0,
      tax: 0,
      taxMode: "exclusive",
      lines: [{ sku: "S", discount: 200, tax: 0, charged: 1000 }],
      discountCode: "SAVE",
      ...(returnUseOnRefund ? { returnUseOnRefund: true as const } : {}),
    },
    customer: { email: "a@example.com" },
    paymentToken: "tok_ok",
    holds,
    holdExpiresAt: expiresAt,
    createdAt: new Date(T0).toISOString(),
  };
  return {
    ...order,
    ...acceptedLifecycle(order, T0),
    status: "paid",
    paymentStatus: "succeeded",
    stock: "committed",
    chargeId: "ch_1",
    attempts: 1,
    dueAt: null,
    updatedAt: order.createdAt,
    version: 3,
    projected: 3,
  };
}

const codeHolds = () => [
  hold("S"),
  hold("~code~abc", { allowance: "code", code: "SAVE" }),
  hold("~limit~def", { allowance: "customer", code: "SAVE" }),
  hold("~limit~sku", { allowance: "customer" }),
  hold("~card~ghi", { allowance: "card", code: "SAVE" }),
];

function run(order: OrderRow, events: LifecycleEvent[]): OrderRow {
  let row = order;
  for (const event of events) {
    const next: OrderRow = { ...row, ...decide(row, event, ctx).next };
    checkOrder(row, next, T0);
    row = next;
  }
  return row;
}

let refunds = 0;
const refund = (amount?: number, cancel = false): LifecycleEvent => {
  const id = `r-${++refunds}`;
  const request: RefundRequest = {
    id,
    keyHash: id.padEnd(64, "0"),
    fingerprint: id,
    restock: false,
    ...(amount !== undefined ? { amount, currency: "USD" } : {}),
    ...(cancel ? { cancel: true } : {}),
  };
  return { type: "refund", request };
};
const answered = (row: OrderRow): LifecycleEvent => {
  const pending = row.refunds.find((made) => made.status === "pending");
  return {
    type: "refund_answered",
    refundId: pending?.id ?? "",
    answer: { status: "succeeded", gatewayId: "re_1" },
  };
};

describe("a discount code's use given back", () => {
  it("is owed once the refunds add up to the charge, in one refund or several, and never before", () => {
    let row = run(paid(true), [refund(400)]);
    row = run(row, [answered(row)]);
    expect(row.refunded).toBe(400);
    expect(owedWork(row, T0)).toBeNull();
    row = run(row, [refund(600)]);
    row = run(row, [answered(row)]);
    expect(row.refunded).toBe(1000);
    expect(owedWork(row, T0)).toBe("return_uses");
    // Owed now: due at once, so the alarm makes the step should the inline run not.
    expect(row.dueAt).toBe(T0);
    row = run(row, [{ type: "uses_returned" }]);
    expect(row.usesReturned).toBe(true);
    expect(owedWork(row, T0)).toBeNull();
    // A late repeat of the step's answer changes nothing.
    expect(run(row, [{ type: "uses_returned" }])).toEqual(row);
  });

  it("is owed for a paid order the shop cancels", () => {
    let row = run(paid(true), [refund(undefined, true)]);
    row = run(row, [answered(row)]);
    expect(row.cancelledAt).not.toBeNull();
    expect(owedWork(row, T0)).toBe("return_uses");
  });

  it("is not owed to a cancelled order whose earlier refund failed: money alone says it is undone", () => {
    let row = run(paid(true), [refund(400)]);
    const first = row.refunds[0]?.id ?? "";
    // The shop cancels while the 400 is pending: the cancel refunds what is left beside it (600).
    row = run(row, [refund(undefined, true)]);
    row = run(row, [
      { type: "refund_answered", refundId: first, answer: { status: "failed", reason: "closed" } },
    ]);
    row = run(row, [answered(row)]);
    expect(row.cancelledAt).not.toBeNull();
    expect(row.refunded).toBe(600);
    expect(owedWork(row, T0)).toBeNull();
    expect(run(row, [{ type: "uses_returned" }]).usesReturned).toBe(false);
  });

  it("is not owed to an order whose code kept its use, nor to one stored before holds named their code", () => {
    let kept = run(paid(false), [refund()]);
    kept = run(kept, [answered(kept)]);
    expect(kept.refunded).toBe(1000);
    expect(owedWork(kept, T0)).toBeNull();
    expect(run(kept, [{ type: "uses_returned" }]).usesReturned).toBe(false);
    const unmarked = paid(true, [hold("S"), hold("~code~abc", { allowance: "code" })]);
    let old = run(unmarked, [refund()]);
    old = run(old, [answered(old)]);
    expect(usesOwed(old)).toBe(false);
  });

  it("returns the code's holds alone, each bucket under a key of its own, never a SKU's purchase limit", () => {
    expect(useShares(paid(true)).map((share) => share.sku)).toEqual(["~code~abc", "~limit~def", "~card~ghi"]);
    expect(useShares(paid(true)).map((share) => share.key)).toEqual([
      "o-1:use:~code~abc#0",
      "o-1:use:~limit~def#0",
      "o-1:use:~card~ghi#0",
    ]);
  });

  it("refuses to write a use given back to an order not refunded in full, or taken back", () => {
    const order = paid(true);
    expect(() => checkOrder(order, { ...order, usesReturned: true }, T0)).toThrow(InvariantViolation);
    const refunded = { ...order, refunded: 1000, paymentStatus: "refunded" as const, usesReturned: true };
    expect(() => checkOrder(refunded, { ...refunded, usesReturned: false, dueAt: T0 }, T0)).toThrow(
      /a use given back stays given back/,
    );
  });
});
