import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { StripeGateway } from "../../src/payments/stripe.gateway";
import { ulid } from "../../src/shared/ids";
import { adminOrder, refund, refundsSettle } from "../after-sale.helpers";
import {
  type DrawProduct,
  drawProduct,
  drawReaches,
  type Entered,
  enter,
  entryView,
  eventually,
} from "../draws.helpers";
import { type BuyerOrder, readOrder, settledOrder, shardRow, unique } from "../helpers";
import { fake, signedEvent, webhook } from "./stripe.helpers";

// A draw with Stripe: each entry holds its price on a manual-capture PaymentIntent of its own, which
// names the entry; a winner's is captured into an order. What Stripe then says of that charge (a
// refund or a dispute made in its dashboard) must reach the order, and nothing said of a hold that was
// never captured may touch one.

type Charge = {
  id: string;
  object: "charge";
  amount: number;
  amount_refunded: number;
  captured: boolean;
  refunded: boolean;
  currency: string;
  payment_intent: string;
  metadata: Record<string, string>;
};
type Intent = {
  id: string;
  object: "payment_intent";
  status: string;
  capture_method: string;
  metadata: Record<string, string>;
  latest_charge: Charge | null;
};

type Winner = { entryId: string; orderId: string; orderToken: string; intentId: string };

/** A card the buyer typed, as Stripe.js makes it: a ConfirmationToken of a card of its own. */
async function cardToken(): Promise<string> {
  return (await fake<{ id: string }>("/confirmation_tokens", { card: unique("card") })).id;
}

/** A draw of `units` among `entrants`, run to its end at Stripe: its winners and the entries that lost. */
async function drawn(units: number, entrants: number) {
  const draw: DrawProduct = await drawProduct({ onHand: units + 2, units, closesInMs: 3_000 });
  const entered: Entered[] = [];
  for (let i = 0; i < entrants; i++) {
    const response = await enter(draw, {
      email: `${unique("e")}@example.com`,
      paymentToken: await cardToken(),
    });
    expect(response.status).toBe(201);
    entered.push(await response.json<Entered>());
  }
  const proof = await drawReaches(draw, "drawn", 60_000);
  expect(proof.winners).toHaveLength(units);
  const winners: Winner[] = [];
  for (const one of entered.filter((e) => proof.winners?.includes(e.entry.entryId))) {
    const { orderId, orderToken } = (await entryView(draw, one.entryToken)).order ?? {
      orderId: "",
      orderToken: "",
    };
    expect(await settledOrder(orderId, orderToken)).toMatchObject({ status: "paid" });
    winners.push({
      entryId: one.entry.entryId,
      orderId,
      orderToken,
      intentId: String((await shardRow(orderId))?.intent_id ?? ""),
    });
  }
  const losers = entered.filter((e) => !proof.winners?.includes(e.entry.entryId));
  return { draw, winners, losers };
}

const intent = (id: string) => fake<Intent>(`/payment_intents/${id}`);

/** The PaymentIntents that name `owner` in their metadata (an entry's hold, before any capture). */
async function intentsNaming(owner: string): Promise<Intent[]> {
  const { data } = await fake<{ data: { id: string }[] }>(`/payment_intents?order_id=${owner}`);
  return Promise.all(data.map((one) => intent(one.id)));
}

const buyerView = async (winner: Winner) =>
  (await readOrder(winner.orderId, winner.orderToken)).json<BuyerOrder & { total: { amount: number } }>();

describe("Stripe: a draw winner's charge after the draw", () => {
  it("the capture names the order on the PaymentIntent; dashboard refunds reach the order, in part and in full", async () => {
    const { winners } = await drawn(1, 2);
    const [winner] = winners as [Winner];
    const captured = await intent(winner.intentId);
    expect(captured).toMatchObject({
      status: "succeeded",
      capture_method: "manual",
      metadata: { order_id: winner.orderId, hold_owner: winner.entryId },
    });
    // The charge keeps the copy Stripe made when the hold was placed: it still names the entry.
    expect(captured.latest_charge?.metadata).toMatchObject({ order_id: winner.entryId });

    const total = (await buyerView(winner)).total.amount;
    const half = Math.floor(total / 2);
    const partly = await fake<Intent>(`/payment_intents/${winner.intentId}/refund`, { amount: half });
    expect(await webhook("charge.refunded", partly.latest_charge)).toMatchObject({ orderId: winner.orderId });
    expect(await buyerView(winner)).toMatchObject({
      status: "paid",
      payment: { status: "succeeded", refunded: { amount: half } },
    });
    const fully = await fake<Intent>(`/payment_intents/${winner.intentId}/refund`, {});
    expect(await webhook("charge.refunded", fully.latest_charge)).toMatchObject({ orderId: winner.orderId });
    expect(await buyerView(winner)).toMatchObject({
      status: "paid",
      payment: { status: "refunded", refunded: { amount: total } },
    });
  }, 120_000);

  it("a dispute on the charge shows on the order; events of a lost entry's hold reach no order", async () => {
    const { winners, losers } = await drawn(1, 2);
    const [winner] = winners as [Winner];
    const [loser] = losers as [Entered];
    const total = (await buyerView(winner)).total.amount;
    const captured = await intent(winner.intentId);
    const dispute = {
      id: unique("dp"),
      object: "dispute",
      amount: total,
      currency: "usd",
      charge: captured.latest_charge?.id,
      payment_intent: winner.intentId,
      reason: "fraudulent",
      status: "needs_response",
      metadata: {},
    };
    expect(await webhook("charge.dispute.created", dispute)).toMatchObject({ orderId: winner.orderId });
    expect(await webhook("charge.dispute.updated", { ...dispute, status: "under_review" })).toMatchObject({
      orderId: winner.orderId,
    });
    expect((await buyerView(winner)).payment).toMatchObject({
      status: "succeeded",
      dispute: { status: "under_review", reason: "fraudulent" },
    });
    await eventually(async () =>
      expect((await adminOrder(winner.orderId)).payment).toMatchObject({
        dispute: { status: "under_review" },
      }),
    );

    // The loser's hold is cancelled, never captured: Stripe reports the release as a refunded charge.
    const before = await buyerView(winner);
    let released: Intent | undefined;
    await eventually(async () => {
      [released] = await intentsNaming(loser.entry.entryId);
      expect(released).toMatchObject({
        status: "canceled",
        latest_charge: { captured: false, refunded: true },
      });
    }, 30_000);
    const hold = released as Intent;
    expect(await webhook("charge.refunded", hold.latest_charge)).toEqual({
      received: true,
      orderId: null,
      duplicate: false,
    });
    expect(await webhook("payment_intent.canceled", hold)).toMatchObject({ orderId: null });
    expect(await webhook("payment_intent.amount_capturable_updated", hold)).toMatchObject({ orderId: null });
    expect(await buyerView(winner)).toEqual(before);
    expect(await shardRow(loser.entry.entryId)).toBeNull();
  }, 120_000);

  it("a refund the shop makes on a drawn order refunds the PaymentIntent its hold was captured on", async () => {
    const { winners } = await drawn(1, 1);
    const [winner] = winners as [Winner];
    const total = (await buyerView(winner)).total.amount;
    const made = await refund(winner.orderId, { amount: { amount: 500, currency: "USD" }, restock: false });
    expect(made.status).toBe(201);
    expect((await refundsSettle(winner.orderId)).refunds).toMatchObject([{ status: "succeeded" }]);
    expect((await intent(winner.intentId)).latest_charge).toMatchObject({ amount_refunded: 500 });
    // Stripe's own report of that refund reaches the order too, and changes nothing more.
    const reported = await intent(winner.intentId);
    expect(await webhook("charge.refunded", reported.latest_charge)).toMatchObject({
      orderId: winner.orderId,
    });
    expect((await refund(winner.orderId, { restock: true })).status).toBe(201);
    await refundsSettle(winner.orderId);
    expect((await intent(winner.intentId)).latest_charge).toMatchObject({
      amount_refunded: total,
      refunded: true,
    });
    expect(await buyerView(winner)).toMatchObject({
      status: "paid",
      payment: { status: "refunded", refunded: { amount: total } },
    });
  }, 120_000);

  it("news of a hold captured into an order not recorded yet is asked again for a refund, taken for the rest", async () => {
    const gateway = StripeGateway.fromEnv(env);
    const entryId = `${ulid()}-3`;
    const ref = {
      orderId: entryId,
      idempotencyKey: `hold-${entryId}`,
      amount: { amount: 2500, currency: "USD" },
      token: "pm_card_visa",
      intentId: null,
    };
    const held = await gateway.authorize(ref);
    if (held.status !== "authorized") throw new Error(`authorize ${held.status}`);
    // Captured into an order the draw has not recorded yet (it stopped before recording it).
    const orderId = `${ulid()}-0`;
    expect(await gateway.capture({ ...ref, intentId: held.intentId }, orderId)).toMatchObject({
      status: "succeeded",
    });
    const captured = await intent(held.intentId);
    expect(await webhook("payment_intent.succeeded", captured)).toMatchObject({ orderId: null });
    const refunded = await fake<Intent>(`/payment_intents/${held.intentId}/refund`, { amount: 1000 });
    const answer = await signedEvent("charge.refunded", refunded.latest_charge);
    expect(answer.status).toBe(503);
    expect(answer.headers.get("Retry-After")).toBeTruthy();
    expect(await answer.json()).toMatchObject({ code: "service_unavailable" });
  }, 60_000);
});
