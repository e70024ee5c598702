import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { announceGatewayEvent } from "../src/orders/payment/gateway-events";
import { adminOrder, refund, refundsSettle, simulator } from "./after-sale.helpers";
import {
  type DrawProduct,
  drawProduct,
  drawReaches,
  type Entered,
  enter,
  entryView,
  eventually,
} from "./draws.helpers";
import { admin, type BuyerOrder, chargesFor, readOrder, settledOrder, settleShards, unique } from "./helpers";

// A draw's winner is charged by capturing the hold its entry placed, and the order the capture
// becomes is not the entry: what the gateway says of that charge afterwards must reach the order.

type Winner = { entryId: string; orderId: string; orderToken: string; chargeId: string };
type Drawn = { draw: DrawProduct; winners: Winner[]; losers: Entered[] };

/** A draw of `units` among `entrants`, run to its end; its winners with their orders and charges. */
async function drawn(units: number, entrants: number): Promise<Drawn> {
  const draw = await drawProduct({ onHand: units + 2, units, closesInMs: 2_500 });
  const entered: Entered[] = [];
  for (let i = 0; i < entrants; i++) {
    const card = unique("card").replaceAll(/[^A-Za-z0-9_-]/g, "");
    const response = await enter(draw, {
      email: `${unique("e")}@example.com`,
      paymentToken: `tok_ok.card_${card}`,
    });
    expect(response.status).toBe(201);
    entered.push(await response.json<Entered>());
  }
  const proof = await drawReaches(draw, "drawn");
  expect(proof.winners).toHaveLength(units);
  const holds = await simulator().authorizations();
  const winners: Winner[] = [];
  for (const one of entered.filter((e) => proof.winners?.includes(e.entry.entryId))) {
    const view = await entryView(draw, one.entryToken);
    const { orderId, orderToken } = view.order ?? { orderId: "", orderToken: "" };
    expect(await settledOrder(orderId, orderToken)).toMatchObject({ status: "paid" });
    const hold = holds.find((candidate) => candidate.ownerId === one.entry.entryId);
    winners.push({ entryId: one.entry.entryId, orderId, orderToken, chargeId: hold?.chargeId ?? "" });
  }
  const losers = entered.filter((e) => !proof.winners?.includes(e.entry.entryId));
  return { draw, winners, losers };
}

const buyerView = async (winner: Winner) =>
  (await readOrder(winner.orderId, winner.orderToken)).json<BuyerOrder & { total: { amount: number } }>();

async function orderEmails(orderId: string): Promise<string[]> {
  const response = await admin("GET", `/v1/admin/emails?orderId=${encodeURIComponent(orderId)}&limit=50`);
  const { items } = await response.json<{ items: { event: string }[] }>();
  return items.map((email) => email.event);
}

describe("a draw winner's charge, after the draw (simulator)", () => {
  it("is the order's in the gateway's ledger, so refunds made there reach the order, in part and in full", async () => {
    const { winners } = await drawn(1, 2);
    const [winner] = winners as [Winner];
    // The captured charge belongs to the order the entry became, not to the entry.
    expect(await chargesFor(winner.orderId)).toMatchObject([{ id: winner.chargeId, status: "succeeded" }]);
    expect(await chargesFor(winner.entryId)).toEqual([]);

    const total = (await buyerView(winner)).total.amount;
    const half = Math.floor(total / 2);
    // Refunded at the gateway, outside the shop (as from Stripe's dashboard): announced as charge.refunded.
    expect(await simulator().refund(winner.chargeId, unique("dashboard"), half)).toMatchObject({ ok: true });
    expect(await buyerView(winner)).toMatchObject({
      status: "paid",
      payment: { status: "succeeded", refunded: { amount: half } },
    });
    expect(await simulator().refund(winner.chargeId, unique("dashboard"))).toMatchObject({ ok: true });
    expect(await buyerView(winner)).toMatchObject({
      status: "paid",
      payment: { status: "refunded", refunded: { amount: total } },
    });
    // The buyer hears of it as any buyer whose order the gateway refunded in full.
    await eventually(async () => expect(await orderEmails(winner.orderId)).toContain("order.refunded"));
  }, 90_000);

  it("a dispute on the charge shows on the order; news of a lost entry's hold changes no order", async () => {
    const { winners, losers } = await drawn(1, 2);
    const [winner] = winners as [Winner];
    const [loser] = losers as [Entered];
    const total = (await buyerView(winner)).total.amount;
    // The gateway names the charge's owner as its ledger does: the order.
    const [charge] = await simulator().charges(winner.orderId);
    const disputed = await announceGatewayEvent(env, {
      eventId: unique("evt"),
      orderId: charge?.orderId ?? "",
      type: "charge.dispute.created",
      detail: {
        dispute: {
          id: unique("dp"),
          status: "needs_response",
          reason: "fraudulent",
          amount: total,
          currency: "USD",
        },
      },
    });
    expect(disputed).toEqual({ known: true, duplicate: false });
    expect((await buyerView(winner)).payment).toMatchObject({
      status: "succeeded",
      dispute: { status: "needs_response", reason: "fraudulent" },
    });
    await settleShards();
    expect((await adminOrder(winner.orderId)).payment).toMatchObject({
      dispute: { status: "needs_response" },
    });

    // The lost entry's hold was cancelled, never charged: an event naming it finds no order.
    const before = await buyerView(winner);
    const stray = await announceGatewayEvent(env, {
      eventId: unique("evt"),
      orderId: loser.entry.entryId,
      type: "charge.refunded",
      detail: { refunded: { amount: total, currency: "USD" } },
    });
    expect(stray).toEqual({ known: false, duplicate: false });
    expect(await buyerView(winner)).toEqual(before);
  }, 90_000);

  it("a refund the shop makes on a drawn order refunds the charge its hold was captured as", async () => {
    const { winners } = await drawn(1, 1);
    const [winner] = winners as [Winner];
    const total = (await buyerView(winner)).total.amount;
    const made = await refund(winner.orderId, { amount: { amount: 500, currency: "USD" }, restock: false });
    expect(made.status).toBe(201);
    expect((await refundsSettle(winner.orderId)).refunds).toMatchObject([{ status: "succeeded" }]);
    const ledger = await simulator().charges(winner.orderId);
    expect(ledger).toMatchObject([{ id: winner.chargeId, refunded: { amount: 500 } }]);
    const rest = await refund(winner.orderId, { restock: true });
    expect(rest.status).toBe(201);
    await refundsSettle(winner.orderId);
    expect(await simulator().charges(winner.orderId)).toMatchObject([
      { id: winner.chargeId, status: "refunded", refunded: { amount: total } },
    ]);
    expect(await buyerView(winner)).toMatchObject({
      status: "paid",
      payment: { status: "refunded", refunded: { amount: total } },
    });
  }, 90_000);
});
