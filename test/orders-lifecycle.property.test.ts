import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cardAllowanceLines, type LimitLine } from "../src/inventory/allowances";
import { SkuInventory } from "../src/inventory/inventory.do";
import { holdCardAllowance } from "../src/orders/payment/card-allowance";
import { attemptPorts } from "../src/orders/payment/payments.consumer";
import { chargeKey } from "../src/payments/gateway";
import { GatewaySimulator, type SimulatorAnswer } from "../src/payments/simulator.do";
import {
  type Accepted,
  breakMethod,
  cancelOrder,
  chargeBehindTheQueue,
  chargesFor,
  checkoutBody,
  deliverPayments,
  patchShardRow,
  postCheckout,
  readOrder,
  settleShards,
  shardOf,
  shardRow,
  silenceQueue,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

/**
 * Random sequences of what can happen to an order between checkout and its end, with faults injected
 * between the steps (the gateway charging and then timing out, lookups failing, inventory objects
 * unreachable, refunds failing, a consumer dying mid-attempt, holds outliving their time, the buyer
 * cancelling, the paying card's fingerprint unreadable). Whatever the sequence, once the faults pass and the shard has worked through what it
 * owes, the order must have ended consistently with the money and the stock.
 */
type GatewayBehaviour = "ok" | "declined" | "error" | "timeout_after_charge" | "3ds";
type Step =
  | {
      kind: "deliver";
      gateway: GatewayBehaviour;
      lookupsFail: boolean;
      inventoryDown: boolean;
      cardUnread: boolean;
    }
  /** The buyer answers an open 3-D Secure challenge (if there is one), or their time runs out. */
  | { kind: "buyer"; passes: boolean }
  | { kind: "action_times_out" }
  /** A consumer takes the attempt, maybe holds the card's allowance and charges, and dies. */
  | { kind: "abandon"; charged: boolean; cardHeld: boolean }
  | { kind: "cancel" }
  | { kind: "time_passes" }
  | { kind: "heal"; refundsFail: boolean; inventoryDown: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("deliver" as const),
    gateway: fc.constantFrom<GatewayBehaviour>("ok", "declined", "error", "timeout_after_charge", "3ds"),
    lookupsFail: fc.boolean(),
    inventoryDown: fc.boolean(),
    cardUnread: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("abandon" as const), charged: fc.boolean(), cardHeld: fc.boolean() }),
  fc.record({ kind: fc.constant("cancel" as const) }),
  fc.record({ kind: fc.constant("buyer" as const), passes: fc.boolean() }),
  fc.record({ kind: fc.constant("action_times_out" as const) }),
  fc.record({ kind: fc.constant("time_passes" as const) }),
  fc.record({ kind: fc.constant("heal" as const), refundsFail: fc.boolean(), inventoryDown: fc.boolean() }),
);

const originalCharge = GatewaySimulator.prototype.charge;

/** The simulator answering as `behaviour` says, yet, like any gateway, idempotent per key. */
function scriptGateway(behaviour: GatewayBehaviour) {
  return breakMethod(GatewaySimulator.prototype, "charge", function (
    this: GatewaySimulator,
    input: Parameters<GatewaySimulator["charge"]>[0],
  ): SimulatorAnswer {
    const existing = this.lookup(input.idempotencyKey);
    if (existing?.kind === "charge") return { ok: true, charge: existing.charge };
    if (behaviour === "declined") return { ok: false, kind: "declined", reason: "card_declined" };
    if (behaviour === "error") return { ok: false, kind: "error", status: 503, reason: "gateway down" };
    if (behaviour === "3ds") return originalCharge.call(this, { ...input, token: "tok_3ds" });
    const made = originalCharge.call(this, { ...input, token: "tok_ok" });
    return behaviour === "ok" ? made : { ok: false, kind: "error", status: 504, reason: "timeout" };
  } as never);
}

function inventoryOutage() {
  const restores = ["pin", "settleMany", "reserveWithin"].map((method) =>
    breakMethod(SkuInventory.prototype, method),
  );
  return () => {
    for (const restore of restores) restore();
  };
}

async function withFaults(faults: (() => () => void)[], work: () => Promise<unknown>) {
  const restores = faults.map((fault) => fault());
  try {
    await work();
  } finally {
    for (const restore of restores.reverse()) restore();
  }
}

async function apply(s: Step, sku: string, accepted: Accepted) {
  const id = accepted.orderId;
  const shard = shardOf(id);
  switch (s.kind) {
    case "deliver":
      return withFaults(
        [
          () => scriptGateway(s.gateway),
          ...(s.lookupsFail ? [() => breakMethod(GatewaySimulator.prototype, "lookup")] : []),
          ...(s.inventoryDown ? [inventoryOutage] : []),
          ...(s.cardUnread ? [() => breakMethod(GatewaySimulator.prototype, "fingerprint")] : []),
        ],
        () => deliverPayments([id]),
      );
    case "abandon": {
      // A consumer takes the attempt, maybe charges, and dies before it reports.
      const [task] = await shard.beginPayments([id]);
      if (task && s.cardHeld) await holdCardAllowance(await attemptPorts(env), task);
      if (task && s.charged)
        await withFaults([() => scriptGateway("ok")], () => chargeBehindTheQueue(accepted));
      if (task) await patchShardRow(id, "lease_until = 1, due_at = 1");
      return;
    }
    case "cancel":
      return cancelOrder(accepted);
    case "buyer":
      return answerOpenChallenge(accepted, s.passes);
    case "action_times_out":
      return patchShardRow(
        id,
        "action_until = CASE WHEN action_until IS NULL THEN NULL ELSE 1 END, due_at = CASE WHEN due_at IS NULL THEN NULL ELSE 1 END",
      );
    case "time_passes": {
      // The hold's time runs out, at the shard and at the inventory object alike.
      await patchShardRow(id, "accepted = json_set(accepted, '$.holdExpiresAt', '2000-01-01T00:00:00.000Z')");
      const stub = env.INVENTORY.getByName(sku);
      await runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec("UPDATE reservations SET expires_at = 1 WHERE order_id = ?", id);
      });
      await runDurableObjectAlarm(stub);
      return;
    }
    case "heal":
      await patchShardRow(id, "due_at = CASE WHEN due_at IS NULL THEN NULL ELSE 1 END");
      return withFaults(
        [
          ...(s.refundsFail ? [() => breakMethod(GatewaySimulator.prototype, "refund")] : []),
          ...(s.inventoryDown ? [inventoryOutage] : []),
        ],
        () => settleShards(1),
      );
  }
}

/** The buyer answers the order's open 3-D Secure challenge at the simulator, if it has one. */
async function answerOpenChallenge(accepted: Accepted, passes: boolean) {
  const simulator = env.SIMULATOR.getByName("simulator");
  const found = await simulator.lookup(chargeKey(accepted.orderId));
  if (found?.kind === "open") await simulator.answerChallenge(found.payment.id, passes);
}

/**
 * The paying card's allowance once the order has ended. A hold the order records is settled with it;
 * one an attempt took but could not report is never pinned, and is given back when its time runs out
 * (made to run out here), so no card keeps an allowance for an order that has ended.
 */
async function cardAllowanceAtTheEnd(orderId: string, row: Record<string, unknown> | null) {
  const accepted = JSON.parse(String(row?.accepted)) as { cardLimits: LimitLine[]; paymentToken: string };
  const fingerprint = await env.SIMULATOR.getByName("simulator").fingerprint(accepted.paymentToken);
  const [line] = await cardAllowanceLines(accepted.cardLimits, fingerprint ?? "");
  const stub = env.INVENTORY.getByName(line?.sku ?? "");
  const recorded = (JSON.parse(String(row?.holds ?? "[]")) as { sku: string }[]).some(
    (hold) => hold.sku === line?.sku,
  );
  if (!recorded) {
    const unrecorded = (await stub.snapshot())?.holds.filter((hold) => hold.orderId === orderId) ?? [];
    expect(unrecorded.every((hold) => !hold.pinned)).toBe(true);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE reservations SET expires_at = 1 WHERE order_id = ?", orderId);
    });
    await runDurableObjectAlarm(stub);
  }
  return (await stub.counts()) ?? { reserved: 0, committed: 0 };
}

/** With every fault gone, lets time and the shard do their work until the order owes nothing. */
async function driveToEnd(accepted: Accepted) {
  for (let round = 0; round < 12; round++) {
    const row = await shardRow(accepted.orderId);
    if (row?.status !== "pending_payment" && row?.due_at === null) return;
    // Leases and the buyer's time run out.
    await patchShardRow(
      accepted.orderId,
      "lease_until = CASE WHEN lease_until IS NULL THEN NULL ELSE 1 END, due_at = CASE WHEN due_at IS NULL THEN NULL ELSE 1 END, action_until = CASE WHEN action_until IS NULL THEN NULL ELSE 1 END",
    );
    if (row?.status === "pending_payment") await deliverPayments([accepted.orderId]);
    await settleShards(2);
  }
}

describe("the order lifecycle under random faults (fast-check)", () => {
  it("always ends with the money and the stock agreeing with the order", async () => {
    const restoreQueue = silenceQueue();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { minLength: 1, maxLength: 8 }),
          fc.integer({ min: 1, max: 2 }),
          async (steps, quantity) => {
            // A limit per customer, so the customer's allowance goes through every fault as well.
            const sku = await stockedSku(3, undefined, { maxPerCustomer: 2 });
            const response = await postCheckout(
              checkoutBody([{ sku, quantity }], `tok_ok.card_${unique("card")}`),
            );
            expect(response.status).toBe(202);
            const accepted = await response.json<Accepted>();
            for (const s of steps) await apply(s, sku, accepted);
            await driveToEnd(accepted);

            const order = await (await readOrder(accepted.orderId, accepted.orderToken)).json<{
              status: string;
              payment: { status: string };
            }>();
            const row = await shardRow(accepted.orderId);
            expect(order.status).not.toBe("pending_payment");
            expect(row?.due_at).toBeNull();

            // A payment left open to the buyer was withdrawn before the order ended: passing it now
            // charges nothing.
            await answerOpenChallenge(accepted, true);
            const live = (await chargesFor(accepted.orderId)).filter((c) => c.status === "succeeded");
            const stock = await stockOf(sku);
            expect(stock.onHand + stock.committed).toBe(3);
            expect(stock.reserved).toBe(0);
            // The allowance ends as the stock does: nothing held, spent only by a paid order.
            const allowance = row?.accepted
              ? (
                  JSON.parse(String(row.accepted)) as { holds: { sku: string; allowance?: string }[] }
                ).holds.find((hold) => hold.allowance === "customer")
              : undefined;
            expect(allowance).toBeDefined();
            const spent = await env.INVENTORY.getByName(allowance?.sku ?? "").counts();
            expect(spent?.reserved).toBe(0);
            expect(spent?.committed).toBe(order.status === "paid" ? quantity : 0);
            // So does the paying card's, once HOLD_TTL has let go of a hold no attempt could record.
            const card = await cardAllowanceAtTheEnd(accepted.orderId, row);
            expect(card.reserved).toBe(0);
            expect(card.committed).toBe(order.status === "paid" ? quantity : 0);
            if (order.status === "paid") {
              expect(live).toHaveLength(1);
              expect(order.payment.status).toBe("succeeded");
              expect(stock.committed).toBe(quantity);
            } else {
              expect(live).toHaveLength(0);
              expect(["failed", "not_charged", "refunded"]).toContain(order.payment.status);
              expect(stock.committed).toBe(0);
            }
          },
        ),
        { numRuns: Number(env.PROPERTY_RUNS) || 40 },
      );
    } finally {
      restoreQueue();
    }
  }, 240_000);
});
