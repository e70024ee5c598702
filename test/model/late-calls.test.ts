import { describe, expect, it } from "vitest";
import { cardAllowanceLines, customerAllowanceLines, type LimitLine } from "../../src/inventory/allowances";
import type { OrderHolds, PlannedLine } from "../../src/inventory/inventory.holds";
import type { AcceptedOrder } from "../../src/orders/lifecycle/order";
import { type AttemptPorts, makeAttempts } from "../../src/orders/payment/attempts";
import type { PaymentTask } from "../../src/orders/protocol";
import { OrderLoop } from "../../src/orders/shard/loop";
import type { LoopPorts } from "../../src/orders/shard/ports";
import { chargeKey } from "../../src/payments/gateway";
import { type Behaviour, MemoryStore, ModelGateway, ModelStock } from "./world";

/**
 * Scripted from a sequence the simulation found (seed 120344, found by review): a stale attempt's
 * card allowance hold lands after the order was cancelled and its holds given back, and a later
 * attempt's pin lands after it. The order is closed for good at every object its release reached, so
 * the late hold is refused and nothing is left held (and pinned) that no decision would ever end.
 */
const SKU = "SKU-R";
const LIMIT: LimitLine = { key: `sku:${SKU}`, quantity: 1, limit: { scope: "sku", sku: SKU, max: 2 } };
const TTL = 15 * 60_000;

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe("calls of an order that arrive after it was closed", () => {
  it("take no hold for it: a card allowance released with the order is not held again", async () => {
    let now = Date.UTC(2026, 11, 6, 12);
    const store = new MemoryStore();
    const stock = new ModelStock(() => now);
    const gateway = new ModelGateway();
    let behaviour: Behaviour = "3ds";
    let stockDown = false;
    const stockPort = stock.port(() => stockDown);
    const ports: LoopPorts = {
      store,
      stock: stockPort,
      payments: {
        gateway: async () =>
          gateway.port(
            async (work) => work(),
            () => behaviour,
          ),
        turns: async (wanted) => ({ granted: wanted, nextInMs: 0 }),
      },
      handOn: async () => {},
      wake: () => {},
      clock: { now: () => now, random: () => 0.5 },
      settings: { maxAttempts: 5, retryBaseMs: 1000, retryCapMs: 5000, actionMs: 10 * 60_000 },
      log: () => {},
    };
    const loop = new OrderLoop(ports);
    /** A consumer whose inventory calls may wait at a gate (held back), as in the simulation. */
    const consumer = (gates: { pin?: Promise<void>; hold?: Promise<void> } = {}): AttemptPorts => ({
      gateway: gateway.port(
        async (work) => work(),
        () => behaviour,
      ),
      pin: async (orders: OrderHolds[]) => {
        await gates.pin;
        return stockPort.pin(orders);
      },
      hold: async (orderId: string, lines: PlannedLine[], expiresAtMs: number) => {
        await gates.hold;
        return stock.hold(orderId, lines, expiresAtMs);
      },
      turns: async (wanted) => ({ granted: wanted, nextInMs: 0 }),
      rps: 10,
      holdTtlMs: TTL,
      now: () => now,
      log: () => {},
    });

    // An order under a limit per customer, counted by the paying card too.
    stock.stock(SKU, 3);
    const [customer] = await customerAllowanceLines([LIMIT], "buyer@example.com");
    const [cardLine] = await cardAllowanceLines([LIMIT], "fp_c0");
    const orderId = "late-calls-1";
    const held = stock.hold(
      orderId,
      [{ sku: SKU, quantity: 1, buckets: 1 }, ...(customer ? [customer] : [])],
      now + TTL,
    );
    if (!held.ok || !cardLine) throw new Error("setup");
    const accepted: AcceptedOrder = {
      id: orderId,
      keyHash: "0".repeat(64),
      tokenHash: "1".repeat(64),
      items: [
        { sku: SKU, productId: "p", title: "Tee", quantity: 1, unitPrice: { amount: 1000, currency: "USD" } },
      ],
      total: { amount: 1000, currency: "USD" },
      customer: { email: "buyer@example.com" },
      paymentToken: "tok.card_c0",
      cardLimits: [LIMIT],
      holds: held.holds,
      holdExpiresAt: held.expiresAt,
      createdAt: new Date(now).toISOString(),
    };
    store.transaction(() => loop.accept(accepted, now));

    // Attempt 1 (charge): pins, then its card allowance hold is held back (a slow gateway or object).
    const [task1] = loop.beginPayments([orderId]) as [PaymentTask];
    const slowHold = gate();
    const stale = makeAttempts([task1], consumer({ hold: slowHold.opened }));

    // Its lease runs out; attempt 2 (charge, asks first) holds the card allowance and opens 3-D Secure.
    // The shard records the card hold; pinning it fails (its object is unreachable for that moment).
    now += 61_000;
    const [task2] = loop.beginPayments([orderId]) as [PaymentTask];
    const reports2 = await makeAttempts([task2], consumer());
    stockDown = true;
    await loop.settlePayments(reports2);
    stockDown = false;
    const waiting = store.order(orderId);
    expect(waiting).toMatchObject({ paymentStatus: "requires_action", stock: "held" });
    expect(waiting?.holds.map((hold) => hold.allowance ?? "stock")).toEqual(["stock", "customer", "card"]);

    // The shard looks at the open payment (before the card hold could run out): attempt 3 follows it,
    // pinning what is not pinned; its pin call is held back.
    loop.recheck(orderId);
    const [task3] = loop.beginPayments([orderId]) as [PaymentTask];
    expect(task3).toMatchObject({ mode: "follow", pinned: false });
    const slowPin = gate();
    const follow = makeAttempts([task3], consumer({ pin: slowPin.opened }));

    // The buyer cancels: the order closes and its holds (the card's included) are given back.
    const cancelled = await loop.cancel(orderId);
    expect(cancelled).toMatchObject({ ok: true, order: { status: "cancelled", stock: "released" } });
    const cardObject = stock.object(cardLine.sku);
    expect(cardObject.reserved).toBe(0);

    // Attempt 1's card hold lands now: the order is closed there, so it is refused.
    behaviour = "ok";
    slowHold.open();
    const staleReports = await stale;
    // Attempt 3's pin lands: every hold of the order answers "released".
    slowPin.open();
    const followReports = await follow;
    await loop.settlePayments([...staleReports, ...followReports]);

    // The world settles: time passes well beyond every hold's expiry, the shard does all it owes.
    for (let i = 0; i < 10; i++) {
      now += 61_000;
      await loop.runDue(now);
    }
    now += 2 * TTL;
    for (const object of stock.objects.values()) object.expireDue(now);
    const order = store.order(orderId);
    expect(order?.status).toBe("cancelled");
    expect(gateway.live(chargeKey(orderId))).toBe(0);
    // A cancelled order's units (and allowances) go back: nothing of it may stay held.
    expect(
      [...cardObject.holds]
        .filter(([, hold]) => hold.state === "held")
        .map(([id, hold]) => ({ id, ...hold })),
      "nothing of a cancelled order stays held",
    ).toEqual([]);
  });
});
