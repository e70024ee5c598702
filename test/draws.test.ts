import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { commitmentOf, type Receipt, verifyReceipt, verifyResult } from "../src/draws/proof";
import { OrderShard } from "../src/orders/shard/order-shard.do";
import { GatewaySimulator } from "../src/payments/simulator.do";
import {
  ADDRESS,
  authorizations,
  drawProduct,
  drawReaches,
  type Entered,
  enter,
  entryCall,
  eventually,
  frozenList,
  proofOf,
} from "./draws.helpers";
import {
  admin,
  breakMethod,
  call,
  createProduct,
  JSON_HEADERS,
  settledOrder,
  stockOf,
  unique,
} from "./helpers";

describe("a draw", () => {
  it("holds its units from its setup and publishes the commitment to its seed", async () => {
    const draw = await drawProduct({ onHand: 10, units: 4 });
    expect(draw.commitment).toMatch(/^[0-9a-f]{64}$/);
    const stock = await stockOf(draw.sku);
    expect(stock).toMatchObject({ onHand: 10, reserved: 4, available: 6 });
    const product = await (await call(`/v1/products/${draw.id}`)).json<{
      draw: { units: Record<string, number> };
    }>();
    expect(product.draw.units[draw.sku]).toBe(4);
    const again = await admin("POST", `/v1/admin/products/${draw.id}/draw`, {
      opensAt: new Date(Date.now() - 1000).toISOString(),
      closesAt: new Date(Date.now() + 1000).toISOString(),
      units: { [draw.sku]: 4 },
    });
    expect(await again.json()).toMatchObject({ code: "draw_exists" });
  });

  it("holds nothing when the stock is not there", async () => {
    const product = await createProduct();
    const sku = product.variants[0]?.sku ?? "";
    await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 2 });
    const setup = await admin("POST", `/v1/admin/products/${product.id}/draw`, {
      opensAt: new Date(Date.now()).toISOString(),
      closesAt: new Date(Date.now() + 60_000).toISOString(),
      units: { [sku]: 3 },
    });
    expect(setup.status).toBe(409);
    expect(await setup.json()).toMatchObject({ code: "draw_stock_short" });
    expect(await stockOf(sku)).toMatchObject({ onHand: 2, reserved: 0, available: 2 });
  });

  it("enters a buyer once their card is authorized, and replays the entry under the same key", async () => {
    const draw = await drawProduct();
    const key = unique("k");
    const first = await enter(draw, { email: "Jane.Doe@gmail.com" }, key);
    expect(first.status).toBe(201);
    const entered = await first.json<Entered>();
    expect(entered.entry.state).toBe("entered");
    const held = await authorizations(entered.entry.entryId);
    expect(held.map((one) => one.status)).toEqual(["authorized"]);
    const replay = await enter(draw, { email: "Jane.Doe@gmail.com" }, key);
    expect(replay.status).toBe(200);
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await replay.json<Entered>()).entryToken).toBe(entered.entryToken);
    const read = await entryCall(draw, entered.entryToken);
    expect(await read.json()).toMatchObject({ entryId: entered.entry.entryId, state: "entered" });
    const status = await (await admin("GET", `/v1/admin/products/${draw.id}/draw`)).json();
    expect(status).toMatchObject({ phase: "open", books: { entered: 1, pending: 0 } });
  });

  it("keeps one entry per customer however the email is spelt, and one per card", async () => {
    const draw = await drawProduct();
    expect((await enter(draw, { email: "janedoe@gmail.com", paymentToken: "tok_ok.card_a" })).status).toBe(
      201,
    );
    const twice = await enter(draw, { email: "Jane.Doe+2@googlemail.com", paymentToken: "tok_ok.card_b" });
    expect(twice.status).toBe(409);
    expect(await twice.json()).toMatchObject({ code: "draw_already_entered" });
    const sameCard = await enter(draw, { email: "someone@example.com", paymentToken: "tok_ok.card_a" });
    expect(sameCard.status).toBe(409);
    expect(await sameCard.json()).toMatchObject({ code: "draw_card_used" });
  });

  it("does not enter a declined card, and lets the buyer try again with another", async () => {
    const draw = await drawProduct();
    const declined = await enter(draw, { email: "d@example.com", paymentToken: "tok_declined.card_x" });
    expect(declined.status).toBe(402);
    expect(await declined.json()).toMatchObject({ code: "payment_declined" });
    const other = await enter(draw, { email: "d@example.com", paymentToken: "tok_ok.card_y" });
    expect(other.status).toBe(201);
  });

  it("withdraws an entry before the close and cancels its authorization at once", async () => {
    const draw = await drawProduct();
    const entered = await (
      await enter(draw, { email: "w@example.com", paymentToken: "tok_ok.card_w" })
    ).json<Entered>();
    const withdrawn = await entryCall(draw, entered.entryToken, "DELETE");
    expect(withdrawn.status).toBe(200);
    expect(await withdrawn.json()).toMatchObject({ state: "withdrawn" });
    expect((await authorizations(entered.entry.entryId)).map((one) => one.status)).toEqual(["cancelled"]);
    // The card is free again, and so is the customer.
    expect((await enter(draw, { email: "w@example.com", paymentToken: "tok_ok.card_w" })).status).toBe(201);
  });

  it("refuses entries before the window and after it, and a withdrawal after the close", async () => {
    const early = await drawProduct({ opensInMs: 60_000 });
    const tooEarly = await enter(early, { email: "e@example.com" });
    expect(tooEarly.status).toBe(409);
    expect(await tooEarly.json()).toMatchObject({ code: "draw_not_open" });
    expect(tooEarly.headers.get("Retry-After")).toBeTruthy();
    const closing = await drawProduct({ closesInMs: 1_500 });
    const entered = await (await enter(closing, { email: "c@example.com" })).json<Entered>();
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expect(await (await enter(closing, { email: "late@example.com" })).json()).toMatchObject({
      code: "draw_closed",
    });
    const late = await entryCall(closing, entered.entryToken, "DELETE");
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ code: "draw_closed" });
  }, 20_000);

  it("refuses bad input with a clear 4xx and keeps no entry of it", async () => {
    const draw = await drawProduct();
    const notDrawn = await enter(draw, { email: "bad@example.com", sku: "NOT-A-SIZE" });
    expect(notDrawn.status).toBe(422);
    expect(await notDrawn.json()).toMatchObject({ code: "draw_sku_not_drawn" });
    const noAddress = await enter(draw, { email: "bad@example.com", shippingAddress: undefined });
    expect(noAddress.status).toBe(400);
    expect(await noAddress.json()).toMatchObject({ code: "validation_failed" });
    const badEmail = await enter(draw, { email: "not-an-email" });
    expect(badEmail.status).toBe(400);
    const noKey = await call(`/v1/drops/${draw.id}/draw/entries`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({
        email: "bad@example.com",
        sku: draw.sku,
        paymentToken: "tok_ok",
        shippingAddress: ADDRESS,
      }),
    });
    expect(await noKey.json()).toMatchObject({ code: "idempotency_key_missing" });
    const status = await (await admin("GET", `/v1/admin/products/${draw.id}/draw`)).json();
    expect(status).toMatchObject({ books: { pending: 0, entered: 0, void: 0 } });
  });

  it("refuses a token that is not the entry's", async () => {
    const draw = await drawProduct();
    const entered = await (await enter(draw, { email: "t@example.com" })).json<Entered>();
    const forged = `${entered.entry.entryId}.${"A".repeat(43)}`;
    expect((await entryCall(draw, forged)).status).toBe(403);
    expect((await entryCall(draw, "nonsense")).status).toBe(403);
  });
});

describe("the draw at the close", () => {
  it("seals the list, reveals the seed, charges the winners in rank order and cancels everyone else", async () => {
    const draw = await drawProduct({ onHand: 5, units: 2, closesInMs: 2_500 });
    const tokens = [
      "tok_ok.card_1",
      "tok_ok.card_2",
      "tok_capture_fails.card_3",
      "tok_ok.card_4",
      "tok_ok.card_5",
    ];
    const entered: Entered[] = [];
    for (const [i, paymentToken] of tokens.entries()) {
      const response = await enter(draw, { email: `buyer${i}@example.com`, paymentToken });
      expect(response.status).toBe(201);
      entered.push(await response.json<Entered>());
    }
    const withdrawn = entered.pop() as Entered;
    expect((await entryCall(draw, withdrawn.entryToken, "DELETE")).status).toBe(200);

    const proof = await drawReaches(draw, "drawn");
    expect(proof.state).toBe("drawn");
    const list = await frozenList(draw);
    expect(list.map((entry) => entry.entryId).sort()).toEqual(entered.map((one) => one.entry.entryId).sort());
    expect(await verifyResult(proof, list)).toEqual([]);
    expect(await commitmentOf(proof.seed ?? "")).toBe(draw.commitment);

    // Every receipt proves its entry is in the sealed list.
    for (const one of entered) {
      const receipt = await (
        await call(`/v1/drops/${draw.id}/draw/entry/receipt`, {
          headers: { Authorization: `Bearer ${one.entryToken}` },
        })
      ).json<Receipt>();
      expect(await verifyReceipt(receipt, proof.entryDigest as { root: string; count: number })).toBe(true);
    }

    // Winners in rank order: the ranked entries that were captured; the failing card passed its unit on.
    const winners = proof.winners ?? [];
    expect(winners).toHaveLength(2);
    const failing = entered[2]?.entry.entryId ?? "";
    expect(winners).not.toContain(failing);
    expect((proof.passedOn ?? []).filter((id) => id !== failing)).toEqual([]);
    for (const one of entered) {
      const held = await authorizations(one.entry.entryId);
      const view = await (await entryCall(draw, one.entryToken)).json<{
        state: string;
        order?: { orderId: string; orderToken: string };
      }>();
      if (winners.includes(one.entry.entryId)) {
        expect(view.state).toBe("won");
        expect(held.map((auth) => auth.status)).toEqual(["captured"]);
        const order = await settledOrder(view.order?.orderId ?? "", view.order?.orderToken ?? "");
        expect(order).toMatchObject({ status: "paid", total: { amount: 1999 } });
      } else {
        await eventually(async () =>
          expect(await (await entryCall(draw, one.entryToken)).json()).toMatchObject({ state: "lost" }),
        );
        // Released: cancelled, or already failed for good at its capture.
        const released = proof.passedOn?.includes(one.entry.entryId) ? ["failed"] : ["cancelled"];
        await eventually(async () =>
          expect((await authorizations(one.entry.entryId)).map((auth) => auth.status)).toEqual(released),
        );
      }
    }
    // Each entrant is emailed once per notice: in the draw, then the result.
    for (const one of entered) {
      const result = winners.includes(one.entry.entryId) ? "draw.won" : "draw.lost";
      await eventually(async () =>
        expect(await drawEmails(one.entry.entryId)).toEqual(["draw.entered", result]),
      );
    }
    // Two units sold, the three left over back on the shelf; nothing held for the draw any more.
    await eventually(async () =>
      expect(await stockOf(draw.sku)).toMatchObject({ onHand: 3, reserved: 0, available: 3 }),
    );
    const status = await (await admin("GET", `/v1/admin/products/${draw.id}/draw`)).json();
    expect(status).toMatchObject({ phase: "drawn", won: 2, held: 0, entries: 4 });
  }, 90_000);

  it("passes the unit of a capture that fails to the next in rank, and gives back what nobody won", async () => {
    const draw = await drawProduct({ onHand: 3, units: 3, closesInMs: 2_000 });
    const tokens = ["tok_ok.card_a", "tok_capture_fails.card_b", "tok_ok.card_c"];
    const entered: Entered[] = [];
    for (const [i, paymentToken] of tokens.entries()) {
      entered.push(await (await enter(draw, { email: `p${i}@example.com`, paymentToken })).json<Entered>());
    }
    const proof = await drawReaches(draw, "drawn");
    const failing = entered[1]?.entry.entryId ?? "";
    expect(proof.passedOn).toEqual([failing]);
    expect([...(proof.winners ?? [])].sort()).toEqual(
      [entered[0]?.entry.entryId, entered[2]?.entry.entryId].sort(),
    );
    expect(await verifyResult(proof, await frozenList(draw))).toEqual([]);
    await eventually(async () =>
      expect(await (await entryCall(draw, entered[1]?.entryToken ?? "")).json()).toMatchObject({
        state: "lost",
        reason: "capture_failed",
      }),
    );
    // The unit nobody could take goes back on the shelf; two are sold.
    await eventually(async () =>
      expect(await stockOf(draw.sku)).toMatchObject({ onHand: 1, reserved: 0, available: 1 }),
    );
    const captured = (await env.SIMULATOR.getByName("simulator").authorizations()).filter((one) =>
      entered.some((e) => e.entry.entryId === one.ownerId),
    );
    expect(captured.map((one) => one.captures).sort()).toEqual([0, 1, 1]);
  }, 90_000);
});

/** The draw's emails to an entry, by event, through the admin API. */
async function drawEmails(entryId: string): Promise<string[]> {
  const response = await admin("GET", `/v1/admin/emails?orderId=${encodeURIComponent(entryId)}&limit=50`);
  const { items } = await response.json<{ items: { event: string; to: string }[] }>();
  return items.map((email) => email.event).sort();
}

describe("a draw under faults", () => {
  it("finishes once the gateway answers again after losing its answers to captures and cancels: one charge per winner", async () => {
    const draw = await drawProduct({ onHand: 4, units: 2, closesInMs: 2_000 });
    const entered: Entered[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await enter(draw, { email: `f${i}@example.com`, paymentToken: `tok_ok.card_f${i}` });
      entered.push(await response.json<Entered>());
    }
    // From just before the close, for 6 s, every capture and cancel is made and its answer lost (504).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await env.SIMULATOR.getByName("simulator").breakCharges("lose", 6);
    const proof = await drawReaches(draw, "drawn", 60_000);
    expect(proof.state).toBe("drawn");
    expect(await verifyResult(proof, await frozenList(draw))).toEqual([]);
    const winners = new Set(proof.winners);
    expect(winners.size).toBe(2);
    await eventually(async () => {
      const holds = (await env.SIMULATOR.getByName("simulator").authorizations()).filter((one) =>
        entered.some((e) => e.entry.entryId === one.ownerId),
      );
      for (const hold of holds) {
        expect([hold.ownerId, hold.captures, hold.status]).toEqual(
          winners.has(hold.ownerId) ? [hold.ownerId, 1, "captured"] : [hold.ownerId, 0, "cancelled"],
        );
      }
    }, 40_000);
    await eventually(async () =>
      expect(await stockOf(draw.sku)).toMatchObject({ onHand: 2, reserved: 0, available: 2 }),
    );
  }, 120_000);

  it("decides every withdrawal racing the close one way: withdrawn and out of the list, or refused and in it", async () => {
    const draw = await drawProduct({ onHand: 10, units: 1, closesInMs: 2_000 });
    const entered: Entered[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await enter(draw, { email: `r${i}@example.com`, paymentToken: `tok_ok.card_r${i}` });
      entered.push(await response.json<Entered>());
    }
    const closesAt = Date.parse((entered[0] as Entered & { entry: { closesAt: string } }).entry.closesAt);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, closesAt - Date.now() - 40)));
    const answers = await Promise.all(
      entered.map(async (one, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 10));
        return (await entryCall(draw, one.entryToken, "DELETE")).status;
      }),
    );
    expect(answers.every((status) => status === 200 || status === 409)).toBe(true);
    const proof = await drawReaches(draw, "drawn", 60_000);
    const list = new Set((await frozenList(draw)).map((entry) => entry.entryId));
    for (const [i, one] of entered.entries()) {
      expect([one.entry.entryId, list.has(one.entry.entryId)]).toEqual([
        one.entry.entryId,
        answers[i] === 409,
      ]);
    }
    expect(await verifyResult(proof, await frozenList(draw))).toEqual([]);
  }, 120_000);
});

describe("a draw that stops mid-way", () => {
  it("records each winner's order once when recording throws after the capture, and charges nobody twice", async () => {
    const draw = await drawProduct({ onHand: 3, units: 2, closesInMs: 2_000 });
    const entered: Entered[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await enter(draw, { email: `s${i}@example.com`, paymentToken: `tok_ok.card_s${i}` });
      entered.push(await response.json<Entered>());
    }
    // The first two attempts to record a drawn order fail after the capture was made.
    let failures = 2;
    const record = OrderShard.prototype.recordDrawn;
    const restore = breakMethod(
      OrderShard.prototype,
      "recordDrawn",
      function (this: OrderShard, ...args: unknown[]) {
        if (failures-- > 0) throw new Error("recordDrawn: simulated outage");
        return record.apply(this, args as Parameters<typeof record>);
      },
    );
    try {
      const proof = await drawReaches(draw, "drawn", 60_000);
      expect(proof.winners).toHaveLength(2);
      expect(failures).toBeLessThan(0);
      const holds = (await env.SIMULATOR.getByName("simulator").authorizations()).filter((one) =>
        entered.some((e) => e.entry.entryId === one.ownerId),
      );
      expect(
        holds
          .filter((hold) => hold.captures === 1)
          .map((hold) => hold.ownerId)
          .sort(),
      ).toEqual([...(proof.winners ?? [])].sort());
      expect(holds.every((hold) => hold.captures <= 1)).toBe(true);
      for (const one of entered.filter((e) => proof.winners?.includes(e.entry.entryId))) {
        const view = await (await entryCall(draw, one.entryToken)).json<{
          order: { orderId: string; orderToken: string };
        }>();
        expect(await settledOrder(view.order.orderId, view.order.orderToken)).toMatchObject({
          status: "paid",
        });
      }
      await eventually(async () => expect(await stockOf(draw.sku)).toMatchObject({ onHand: 1, reserved: 0 }));
    } finally {
      restore();
    }
  }, 90_000);

  it("finishes after its object is reset mid-draw, from what it wrote", async () => {
    const draw = await drawProduct({ onHand: 4, units: 2, closesInMs: 2_000 });
    const entered: Entered[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await enter(draw, { email: `k${i}@example.com`, paymentToken: `tok_ok.card_k${i}` });
      entered.push(await response.json<Entered>());
    }
    // Captures hang until the object is reset under them, as a runtime killed mid-call would leave them.
    const capture = GatewaySimulator.prototype.capture;
    let hung = 0;
    const restore = breakMethod(
      GatewaySimulator.prototype,
      "capture",
      async function (this: GatewaySimulator, ...args: unknown[]) {
        if (hung++ < 1) await new Promise(() => {});
        return capture.apply(this, args as Parameters<typeof capture>);
      },
    );
    try {
      await eventually(async () => expect(hung).toBeGreaterThan(0), 30_000);
      const runner = env.DRAWS.getByName(draw.id);
      await runInDurableObject(runner, (_, state) => state.abort("reset mid-draw")).catch(() => undefined);
      const proof = await drawReaches(draw, "drawn", 60_000);
      expect(proof.winners).toHaveLength(2);
      expect(await verifyResult(proof, await frozenList(draw))).toEqual([]);
      const holds = (await env.SIMULATOR.getByName("simulator").authorizations()).filter((one) =>
        entered.some((e) => e.entry.entryId === one.ownerId),
      );
      expect(holds.every((hold) => hold.captures <= 1)).toBe(true);
      expect(holds.filter((hold) => hold.captures === 1)).toHaveLength(2);
    } finally {
      restore();
    }
  }, 120_000);
});

describe("entering, again and again", () => {
  it("answers the same request as it ended: a decline stays a decline, an entry is given again after the close", async () => {
    const draw = await drawProduct({ closesInMs: 2_000 });
    const key = unique("k");
    const declined = await enter(
      draw,
      { email: "again@example.com", paymentToken: "tok_declined.card_ag" },
      key,
    );
    expect(declined.status).toBe(402);
    const repeated = await enter(
      draw,
      { email: "again@example.com", paymentToken: "tok_declined.card_ag" },
      key,
    );
    expect(repeated.status).toBe(402);
    const okKey = unique("k");
    const entered = await (
      await enter(draw, { email: "again@example.com", paymentToken: "tok_ok.card_ag2" }, okKey)
    ).json<Entered>();
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    // After the close, the same request is answered with its entry (and its token), not a refusal.
    const replay = await enter(draw, { email: "again@example.com", paymentToken: "tok_ok.card_ag2" }, okKey);
    expect(replay.status).toBe(200);
    expect((await replay.json<Entered>()).entryToken).toBe(entered.entryToken);
  }, 30_000);

  it("lets a customer's new attempt take over one left waiting for 3-D Secure, and cancels the old one's hold", async () => {
    const draw = await drawProduct();
    const waiting = await enter(draw, { email: "tds@example.com", paymentToken: "tok_3ds.card_t1" });
    expect(waiting.status).toBe(202);
    const first = await waiting.json<Entered>();
    const second = await enter(draw, { email: "tds@example.com", paymentToken: "tok_ok.card_t2" });
    expect(second.status).toBe(201);
    await eventually(async () =>
      expect((await authorizations(first.entry.entryId)).map((hold) => hold.status)).toEqual(["cancelled"]),
    );
    expect(await (await entryCall(draw, first.entryToken)).json()).toMatchObject({
      state: "void",
      reason: "superseded",
    });
  });

  it("never leaves a hold behind when a retry waiting for 3-D Secure meets the close", async () => {
    const draw = await drawProduct({ closesInMs: 2_000 });
    const key = unique("k");
    const body = { email: "late3ds@example.com", paymentToken: "tok_3ds.card_l1" };
    const first = await (await enter(draw, body, key)).json<Entered>();
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    const retry = await enter(draw, body, key);
    expect(retry.status).toBe(409);
    expect(await retry.json()).toMatchObject({ code: "draw_closed" });
    await eventually(async () =>
      expect((await authorizations(first.entry.entryId)).map((hold) => hold.status)).toEqual(["cancelled"]),
    );
  }, 40_000);
});

describe("a draw's units", () => {
  it("gives back more units than one inventory call takes when nobody enters", async () => {
    const draw = await drawProduct({ onHand: 1_500, units: 1_200, closesInMs: 2_500 });
    expect(await stockOf(draw.sku)).toMatchObject({ reserved: 1_200, available: 300 });
    const proof = await drawReaches(draw, "drawn", 60_000);
    expect(proof).toMatchObject({ state: "drawn", winners: [], entryDigest: { count: 0 } });
    await eventually(
      async () => expect(await stockOf(draw.sku)).toMatchObject({ onHand: 1_500, reserved: 0 }),
      40_000,
    );
  }, 120_000);

  it("cancels before the walk: every entry lost and its hold cancelled, the units back, no more entries", async () => {
    const draw = await drawProduct({ onHand: 5, units: 2 });
    const entered = await (
      await enter(draw, { email: "c1@example.com", paymentToken: "tok_ok.card_c1" })
    ).json<Entered>();
    const cancelled = await admin("DELETE", `/v1/admin/products/${draw.id}/draw`);
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ phase: "cancelled" });
    await eventually(async () => {
      expect(await (await entryCall(draw, entered.entryToken)).json()).toMatchObject({
        state: "lost",
        reason: "draw_cancelled",
      });
      expect((await authorizations(entered.entry.entryId)).map((hold) => hold.status)).toEqual(["cancelled"]);
      expect(await stockOf(draw.sku)).toMatchObject({ onHand: 5, reserved: 0 });
    }, 30_000);
    const late = await enter(draw, { email: "c2@example.com" });
    expect(late.status).toBe(409);
    expect((await proofOf(draw)).cancelled).toBe("cancelled by the shop");
  }, 60_000);
});
