import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { announceGatewayEvent } from "../src/orders/payment/gateway-events";
import {
  type Accepted,
  admin,
  type BuyerOrder,
  call,
  cancelOrder,
  chargeBehindTheQueue,
  chargesFor,
  deliverOneBatch,
  deliverPayments,
  JSON_HEADERS,
  orderOf,
  patchShardRow,
  paymentReaches,
  placeOrder,
  runShardAlarm,
  settledOrder,
  settleShards,
  shardOf,
  shardRow,
  silenceQueue,
  stockOf,
  unique,
} from "./helpers";

const place = (token: string, quantity = 2) => placeOrder(token, quantity, 10);

type OrderBody = BuyerOrder;

const challengeId = (order: OrderBody) => order.payment.nextAction?.url?.split("/").pop() ?? "";

const answer = (id: string, result: "pass" | "fail") =>
  call(`/v1/simulator/challenges/${id}`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ result }),
  });

describe("payments that need the buyer (3-D Secure) or settle later", () => {
  it("tok_3ds: waits for the buyer's challenge with the units kept, and is paid once it is passed", async () => {
    const { sku, accepted } = await place("tok_3ds");
    const waiting = await paymentReaches(accepted, "requires_action");
    expect(waiting).toMatchObject({
      status: "pending_payment",
      payment: { status: "requires_action", attempts: 1, nextAction: { type: "redirect_to_url" } },
    });
    expect(waiting.payment.nextAction?.url).toMatch(/^\/pay\/challenge\/pi_sim_[0-9a-f]{32}$/);
    const expiresIn = Date.parse(waiting.payment.actionExpiresAt ?? "") - Date.now();
    expect(expiresIn).toBeGreaterThan(500_000);
    expect(expiresIn).toBeLessThanOrEqual(600_000);
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 2, available: 8 });
    expect(await chargesFor(accepted.orderId)).toEqual([]);

    // What completes the payment goes only to the order token's holder: not to the shop's listing.
    await settleShards();
    const summary = await (await admin("GET", "/v1/admin/orders/summary")).json<Record<string, number>>();
    expect(summary.awaitingBuyer).toBeGreaterThanOrEqual(1);
    const listed = await (await admin("GET", "/v1/admin/orders?limit=100")).text();
    expect(listed).toContain(accepted.orderId);
    expect(listed).not.toContain(challengeId(waiting));

    const id = challengeId(waiting);
    const shown = await call(`/v1/simulator/challenges/${id}`);
    expect(await shown.json()).toMatchObject({ id, orderId: accepted.orderId, status: "requires_action" });
    const passed = await answer(id, "pass");
    expect(passed.status).toBe(200);
    expect(await passed.json()).toMatchObject({ status: "succeeded" });

    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded", attempts: 1 } });
    expect((order as OrderBody).payment.nextAction).toBeUndefined();
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, reserved: 0, committed: 2 });
    // Answering again changes nothing and charges nothing more.
    expect(await (await answer(id, "pass")).json()).toMatchObject({ status: "succeeded" });
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
  }, 60_000);

  it("tok_3ds_fail: the failed challenge fails the order, charges nothing and gives the units back", async () => {
    const { sku, accepted } = await place("tok_3ds_fail");
    const waiting = await paymentReaches(accepted, "requires_action");
    expect(await (await answer(challengeId(waiting), "pass")).json()).toMatchObject({ status: "failed" });
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
    expect((order as OrderBody).failureReason).toMatch(/authentication failed/);
    expect(await chargesFor(accepted.orderId)).toEqual([]);
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 0, available: 10, committed: 0 });
  }, 60_000);

  it("a buyer who never acts: after the bounded time the payment is withdrawn, then the order fails", async () => {
    const { sku, accepted } = await place("tok_3ds");
    const waiting = await paymentReaches(accepted, "requires_action");
    // The buyer's time runs out.
    const past = Date.now() - 1000;
    await patchShardRow(accepted.orderId, "action_until = ?, due_at = ?", past, past);
    await runShardAlarm(accepted.orderId);
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "payment_failed", payment: { status: "failed" } });
    expect((order as OrderBody).failureReason).toMatch(/did not complete authentication in time/);
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 0, available: 10 });
    // Withdrawn at the gateway before the order failed: passing it now charges nothing.
    const late = await answer(challengeId(waiting), "pass");
    expect(await late.json()).toMatchObject({ status: "canceled" });
    expect(await chargesFor(accepted.orderId)).toEqual([]);
  }, 60_000);

  it("cancelled while the buyer acts: the payment is withdrawn, so a late pass charges nothing", async () => {
    const { sku, accepted } = await place("tok_3ds");
    const waiting = await paymentReaches(accepted, "requires_action");
    const cancelled = await cancelOrder(accepted);
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ status: "cancelled", payment: { status: "not_charged" } });
    await settleShards();
    expect(await (await answer(challengeId(waiting), "pass")).json()).toMatchObject({ status: "canceled" });
    expect(await chargesFor(accepted.orderId)).toEqual([]);
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 0 });
  }, 60_000);

  it("tok_processing: processing until the gateway announces the charge, then paid", async () => {
    const restore = silenceQueue();
    let accepted: Accepted;
    let sku: string;
    try {
      ({ sku, accepted } = await place("tok_processing"));
      await deliverPayments([accepted.orderId]);
      const processing = await orderOf(accepted);
      expect(processing).toMatchObject({
        status: "pending_payment",
        payment: { status: "processing", attempts: 1 },
      });
      expect(processing.payment.nextAction).toBeUndefined();
      expect(await stockOf(sku)).toMatchObject({ reserved: 2 });
    } finally {
      restore();
    }
    const order = await settledOrder(accepted.orderId, accepted.orderToken);
    expect(order).toMatchObject({ status: "paid", payment: { status: "succeeded", attempts: 1 } });
    expect(await chargesFor(accepted.orderId)).toHaveLength(1);
    expect(await stockOf(sku)).toMatchObject({ onHand: 8, reserved: 0, committed: 2 });
  }, 60_000);

  it("check-payment looks at an open payment again and answers the order; a wrong token gets 404", async () => {
    const { accepted } = await place("tok_3ds");
    await paymentReaches(accepted, "requires_action");
    const checked = await call(`/v1/orders/${accepted.orderId}/check-payment`, {
      method: "POST",
      headers: { Authorization: `Bearer ${accepted.orderToken}` },
    });
    expect(checked.status).toBe(200);
    expect(await checked.json()).toMatchObject({
      id: accepted.orderId,
      payment: { status: "requires_action" },
    });
    const wrong = await call(`/v1/orders/${accepted.orderId}/check-payment`, {
      method: "POST",
      headers: { Authorization: "Bearer nope" },
    });
    expect(wrong.status).toBe(404);
    expect(await wrong.json()).toMatchObject({ code: "order_not_found" });
  }, 60_000);

  it("asking about open payments takes turns at the gateway's rate, like charging", async () => {
    const placed = await Promise.all([1, 2, 3].map(() => place("tok_3ds", 1)));
    for (const { accepted } of placed) await paymentReaches(accepted, "requires_action");
    const ids = placed.map(({ accepted }) => accepted.orderId);
    const restore = silenceQueue();
    try {
      const past = Date.now() - 1000;
      for (const id of ids) await patchShardRow(id, "action_until = ?, due_at = ?", past, past);
      // A rate of its own, so the pacer starts with one turn in its bucket.
      await deliverOneBatch(ids, { PAYMENT_GATEWAY_RPS: "1.25" } as Partial<Env>);
      const orders = await Promise.all(placed.map(({ accepted }) => orderOf(accepted)));
      expect(orders.filter((order) => order.status === "payment_failed")).toHaveLength(1);
      const waiting = orders.filter((order) => order.status === "pending_payment");
      expect(waiting).toHaveLength(2);
      for (const order of waiting)
        expect(order.payment).toMatchObject({ status: "requires_action", attempts: 1 });
    } finally {
      restore();
    }
  }, 60_000);

  it("an open payment reported by an attempt that lost its lease, after the order closed, is looked up", async () => {
    const restore = silenceQueue();
    try {
      const { accepted } = await place("tok_3ds", 1);
      const shard = shardOf(accepted.orderId);
      const [first] = await shard.beginPayments([accepted.orderId]);
      await patchShardRow(accepted.orderId, "lease_until = 1, due_at = 1");
      const [second] = await shard.beginPayments([accepted.orderId]);
      expect(second?.mustLookup).toBe(true);
      // The second attempt asked and found nothing: the order fails, nothing in doubt.
      await shard.settlePayments([
        {
          orderId: accepted.orderId,
          attempt: second?.attempt ?? 2,
          pinned: true,
          outcome: { kind: "no_charge" },
        },
      ]);
      expect(await shardRow(accepted.orderId)).toMatchObject({
        status: "payment_failed",
        charge_in_doubt: 0,
      });
      // Then the first attempt reports what it left: a payment waiting for the buyer.
      await shard.settlePayments([
        {
          orderId: accepted.orderId,
          attempt: first?.attempt ?? 1,
          pinned: true,
          outcome: { kind: "requires_action", action: { type: "redirect_to_url", url: "/pay/challenge/x" } },
        },
      ]);
      expect(await shardRow(accepted.orderId)).toMatchObject({
        status: "payment_failed",
        charge_in_doubt: 1,
      });
      await settleShards();
      expect(await shardRow(accepted.orderId)).toMatchObject({ charge_in_doubt: 0, due_at: null });
    } finally {
      restore();
    }
  }, 60_000);

  it("an unknown challenge is a 404 problem, and a malformed answer a 400", async () => {
    const missing = await call(`/v1/simulator/challenges/pi_sim_${"0".repeat(32)}`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "challenge_not_found" });
    const malformed = await call(`/v1/simulator/challenges/pi_sim_${"0".repeat(32)}`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ result: "maybe" }),
    });
    expect(malformed.status).toBe(400);
  });
});

describe("the gateway's events about charges", () => {
  it("news of a charge on a failed order has the charge found and refunded", async () => {
    const { accepted } = await place("tok_declined");
    expect(await settledOrder(accepted.orderId, accepted.orderToken)).toMatchObject({
      status: "payment_failed",
    });
    await chargeBehindTheQueue(accepted);
    await announceGatewayEvent(env, {
      eventId: unique("evt"),
      orderId: accepted.orderId,
      type: "payment_intent.succeeded",
    });
    await settleShards();
    expect(await orderOf(accepted)).toMatchObject({
      status: "payment_failed",
      payment: { status: "refunded" },
    });
    expect(await chargesFor(accepted.orderId)).toMatchObject([{ status: "refunded" }]);
  }, 60_000);

  it("keeps the largest refunded total and the furthest dispute stage, whatever the events' order", async () => {
    const { accepted } = await place("tok_ok");
    await settledOrder(accepted.orderId, accepted.orderToken);
    const total = accepted.total.amount;
    const event = (detail: Parameters<typeof announceGatewayEvent>[1]["detail"], type = "charge.refunded") =>
      announceGatewayEvent(env, { eventId: unique("evt"), orderId: accepted.orderId, type, detail });
    const dispute = (status: string) => ({
      dispute: { id: "dp_1", status, reason: "fraudulent", amount: total, currency: "USD" },
    });
    await event({ refunded: { amount: 500, currency: "USD" } });
    await event({ refunded: { amount: 300, currency: "USD" } });
    await event(dispute("lost"), "charge.dispute.closed");
    await event(dispute("needs_response"), "charge.dispute.created");
    expect(await orderOf(accepted)).toMatchObject({
      status: "paid",
      payment: {
        status: "succeeded",
        refunded: { amount: 500, currency: "USD" },
        dispute: { id: "dp_1", status: "lost", reason: "fraudulent" },
      },
    });
    // A full refund: the order stays paid (a final status), its payment is refunded.
    const full = await event({ refunded: { amount: total, currency: "USD" } });
    expect(full).toEqual({ known: true, duplicate: false });
    expect(await orderOf(accepted)).toMatchObject({
      status: "paid",
      payment: { status: "refunded", refunded: { amount: total } },
    });
    // The operator sees it in the listing too.
    await settleShards();
    const page = await (await admin("GET", "/v1/admin/orders?limit=100")).json<{
      items: { id: string; payment: OrderBody["payment"] }[];
    }>();
    expect(page.items.find((item) => item.id === accepted.orderId)?.payment).toMatchObject({
      status: "refunded",
      dispute: { status: "lost" },
    });
    const summary = await (await admin("GET", "/v1/admin/orders/summary")).json<Record<string, number>>();
    expect(summary.refunded).toBeGreaterThanOrEqual(1);
    expect(summary.disputed).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
