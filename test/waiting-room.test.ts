import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Pass, sign, Ticket, verify } from "../src/drops/admission";
import { customerHash, handOnJoins, tellRoomsOfChangedDrops } from "../src/drops/waiting-room";
import { PASS_TTL_MS } from "../src/drops/waiting-room.do";
import { TURNSTILE_TEST_SECRET } from "./fakes/turnstile.mjs";
import {
  type Accepted,
  admin,
  call,
  checkoutBody,
  counting,
  createProduct,
  JSON_HEADERS,
  postCheckout,
  settledOrder,
  stockOf,
  unique,
} from "./helpers";

/** A drop sold through a waiting room: one SKU with `units`, starting `startsInMs` from now. */
async function drop(
  units: number,
  startsInMs: number,
  admitPerMinute = 600,
  rules: Record<string, unknown> = {},
) {
  const product = await createProduct({
    saleStartsAt: new Date(Date.now() + startsInMs).toISOString(),
    waitingRoom: { admitPerMinute },
    ...rules,
  });
  const sku = product.variants[0]?.sku ?? "";
  expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: units })).status).toBe(200);
  return { product, sku };
}

async function joinAs(productId: string, email: string) {
  const response = await call(`/v1/drops/${productId}/tickets`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ email }),
  });
  expect(response.status).toBe(201);
  return response.json<{ ticket: string; prequeue: boolean }>();
}

type Status = {
  state: string;
  position?: number;
  pass?: string;
  passExpiresAt?: string;
  pollAfterSeconds?: number;
};
const statusOf = async (productId: string, ticket: string) => {
  const response = await call(`/v1/drops/${productId}/status`, {
    headers: { Authorization: `Bearer ${ticket}` },
  });
  return { status: response.status, body: await response.json<Status>() };
};

/** Hands this isolate's tickets to the room and runs its tick now. */
async function tick(productId: string) {
  await handOnJoins(env, true);
  await runDurableObjectAlarm(env.ROOMS.getByName(productId));
}

/**
 * Each ticket's status, one after another: the first hears the room's new state, the rest share it
 * (while one request asks the room, concurrent ones answer from the state before).
 */
async function statusesOf(productId: string, tickets: string[]) {
  const statuses = [];
  for (const ticket of tickets) statuses.push(await statusOf(productId, ticket));
  return statuses;
}

/** Lets this isolate's copy of the room's state (kept a second) age out. */
const later = () => new Promise((resolve) => setTimeout(resolve, 1100));

const secret = () => env.ADMISSION_SECRET;

describe("a drop's waiting room", () => {
  it("shuffles everyone who joins before the start, then admits them in that order at the room's rate", async () => {
    const { product, sku } = await drop(100, 1500, 60);
    const buyers = Array.from({ length: 20 }, (_, i) => `buyer${i}-${unique("w")}@example.com`);
    const joined = [];
    for (const email of buyers) joined.push({ email, ...(await joinAs(product.id, email)) });
    expect(joined.every((entry) => entry.prequeue)).toBe(true);
    const ranks = await Promise.all(
      joined.map(async (entry) => (await verify(secret(), entry.ticket, Ticket))?.rank ?? -1),
    );
    expect(ranks.every((rank) => rank >= 0 && rank < 1)).toBe(true);
    // Arriving first buys nothing: the ranks are not in arrival order.
    expect([...ranks].sort((a, b) => a - b)).not.toEqual(ranks);

    await handOnJoins(env, true);
    expect((await statusOf(product.id, joined[0]?.ticket ?? "")).body).toMatchObject({
      state: "not_started",
    });

    await new Promise((resolve) => setTimeout(resolve, 1600));
    await tick(product.id);
    const statuses = await statusesOf(
      product.id,
      joined.map((entry) => entry.ticket),
    );
    const admitted = joined.filter((_, i) => statuses[i]?.body.state === "admitted");
    // 60 a minute: one a second from the start (a tick or two have run), from the front of the line.
    expect(admitted.length).toBeGreaterThanOrEqual(1);
    expect(admitted.length).toBeLessThanOrEqual(4);
    const admittedRanks = ranks.filter((_, i) => statuses[i]?.body.state === "admitted");
    const waitingRanks = ranks.filter((_, i) => statuses[i]?.body.state === "waiting");
    expect(admittedRanks.length + waitingRanks.length).toBe(20);
    expect(Math.max(...admittedRanks)).toBeLessThan(Math.min(...waitingRanks));
    const waiting = statuses.filter((s) => s.body.state === "waiting").map((s) => s.body);
    const positions = waiting.map((s) => s.position ?? 0);
    expect(Math.min(...positions)).toBeGreaterThanOrEqual(1);
    // Each is told when to ask again: the front soon, the back (turn ~15 s away at 1/s) later.
    const byPosition = [...waiting].sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
    expect(byPosition.every((s) => (s.pollAfterSeconds ?? 0) >= 1 && (s.pollAfterSeconds ?? 99) <= 20)).toBe(
      true,
    );
    expect(byPosition[0]?.pollAfterSeconds).toBeLessThanOrEqual(2);
    expect(byPosition.at(-1)?.pollAfterSeconds).toBeGreaterThanOrEqual(5);

    // An admitted buyer checks out once with the pass, and only with their own email.
    const first = admitted[0];
    const pass = statuses[joined.indexOf(first as (typeof joined)[number])]?.body.pass ?? "";
    const body = (email: string, withPass = pass) =>
      checkoutBody([{ sku, quantity: 1 }], "tok_ok", {
        customer: { email },
        ...(withPass ? { admission: { pass: withPass } } : {}),
      });
    const stolen = await postCheckout(body("someone-else@example.com"));
    expect(stolen.status).toBe(403);
    expect(await stolen.json()).toMatchObject({ code: "admission_pass_invalid" });
    const bought = await postCheckout(body(first?.email ?? ""));
    expect(bought.status).toBe(202);
    const again = await postCheckout(body(first?.email ?? ""));
    expect(again.status).toBe(403);
    expect(await again.json()).toMatchObject({ code: "admission_pass_used" });
    expect(await stockOf(sku)).toMatchObject({ available: 99 });
  }, 60_000);

  it("refuses checkout without a pass, with a forged or an expired one, and holds nothing", async () => {
    const { product, sku } = await drop(10, -1000);
    const email = `${unique("p")}@example.com`;
    const customer = await customerHash(env, email);
    const forged = `${await sign("not-the-secret", { kind: "pass", id: "0".repeat(32), productId: product.id, customer, expiresAt: Date.now() + 60_000 })}`;
    const expired = await sign(secret(), {
      kind: "pass",
      id: "1".repeat(32),
      productId: product.id,
      customer,
      expiresAt: Date.now() - 1,
    });
    for (const [admission, code] of [
      [undefined, "admission_pass_required"],
      [{ pass: forged }, "admission_pass_invalid"],
      [{ pass: expired }, "admission_pass_expired"],
    ] as const) {
      const response = await postCheckout(
        checkoutBody([{ sku, quantity: 1 }], "tok_ok", {
          customer: { email },
          ...(admission ? { admission } : {}),
        }),
      );
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ code });
    }
    expect(await stockOf(sku)).toMatchObject({ reserved: 0, available: 10 });
    expect(Pass.safeParse(await verify(secret(), expired, Pass)).success).toBe(true);
  });

  it("admits no more than the units left can serve, and tells everyone at once when it sells out", async () => {
    const { product, sku } = await drop(2, -1000, 6000);
    const joined = [];
    for (let i = 0; i < 12; i++) joined.push(await joinAs(product.id, `${unique("s")}@example.com`));
    await tick(product.id);
    await later();
    const states = (
      await statusesOf(
        product.id,
        joined.map((entry) => entry.ticket),
      )
    ).map((status) => status.body.state);
    // 6000 a minute would let 100 through; 2 units left let 3 (1.5 per unit) through.
    expect(states.filter((state) => state === "admitted").length).toBe(3);

    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 0 })).status).toBe(200);
    await tick(product.id);
    await later();
    const after = (
      await statusesOf(
        product.id,
        joined.map((entry) => entry.ticket),
      )
    ).map((status) => status.body.state);
    expect(new Set(after)).toEqual(new Set(["sold_out"]));
  }, 60_000);

  it("asks the room once a second per isolate, however many poll at once", async () => {
    const { product } = await drop(10, 60_000);
    const tickets = [];
    for (let i = 0; i < 10; i++)
      tickets.push((await joinAs(product.id, `${unique("c")}@example.com`)).ticket);
    await handOnJoins(env, true);
    await statusOf(product.id, tickets[0] ?? "");
    await later();
    const rooms = counting(env.ROOMS, ["getByName"]);
    const polls = await Promise.all(
      tickets.map((ticket) =>
        call(
          `/v1/drops/${product.id}/status`,
          { headers: { Authorization: `Bearer ${ticket}` } },
          { ROOMS: rooms.binding },
        ),
      ),
    );
    expect(polls.map((poll) => poll.status)).toEqual(tickets.map(() => 200));
    expect(rooms.calls()).toBe(1);
  });

  it("keeps shuffling buyers who join within the prequeue window after the start, and admits after it", async () => {
    const product = await createProduct({
      saleStartsAt: new Date(Date.now() - 1000).toISOString(),
      waitingRoom: { admitPerMinute: 600, prequeueSeconds: 60 },
    });
    const joined = await joinAs(product.id, `${unique("late")}@example.com`);
    expect(joined.prequeue).toBe(true);
    expect((await verify(secret(), joined.ticket, Ticket))?.rank).toBeLessThan(1);
    await handOnJoins(env, true);
    expect((await statusOf(product.id, joined.ticket)).body).toMatchObject({
      state: "not_started",
      position: 1,
    });
  });

  it("gives a customer one place: joining again, with any spelling of the email, draws the same", async () => {
    const { product } = await drop(10, 60_000);
    const first = await joinAs(product.id, "Same.Buyer+1@gmail.com");
    const again = await joinAs(product.id, "samebuyer@googlemail.com");
    const [a, b] = await Promise.all([
      verify(secret(), first.ticket, Ticket),
      verify(secret(), again.ticket, Ticket),
    ]);
    expect(a?.rank).toBe(b?.rank);
    expect(a?.id).toBe(b?.id);
    await handOnJoins(env, true);
    expect((await env.ROOMS.getByName(product.id).state()).joined).toBe(1);
  });

  it("is not sold out while units are only held, and admits again when they come back", async () => {
    const { product, sku } = await drop(1, -1000, 600);
    const joined = [];
    for (let i = 0; i < 3; i++) joined.push(await joinAs(product.id, `${unique("h")}@example.com`));
    const holder = env.INVENTORY.getByName(sku);
    expect(
      await holder.reserve({ orderId: "held-order", quantity: 1, expiresAtMs: Date.now() + 60_000 }),
    ).toMatchObject({
      ok: true,
    });
    await tick(product.id);
    await later();
    const held = (
      await statusesOf(
        product.id,
        joined.map((entry) => entry.ticket),
      )
    ).map((status) => status.body.state);
    expect(held).toEqual(["waiting", "waiting", "waiting"]);
    await holder.release("held-order");
    await tick(product.id);
    await later();
    const back = (
      await statusesOf(
        product.id,
        joined.map((entry) => entry.ticket),
      )
    ).map((status) => status.body.state);
    expect(back.filter((state) => state === "admitted").length).toBe(1);
  }, 60_000);

  it("is not stalled by a variant that was never stocked", async () => {
    const product = await createProduct({
      saleStartsAt: new Date(Date.now() - 1000).toISOString(),
      waitingRoom: { admitPerMinute: 600 },
      variants: [
        { sku: `${unique("S").toUpperCase()}-A`, title: "A", price: { amount: 100, currency: "USD" } },
        { sku: `${unique("S").toUpperCase()}-B`, title: "B", price: { amount: 100, currency: "USD" } },
      ],
    });
    expect(
      (await admin("PUT", `/v1/admin/inventory/${product.variants[0]?.sku}`, { onHand: 5 })).status,
    ).toBe(200);
    const { ticket } = await joinAs(product.id, `${unique("v")}@example.com`);
    await tick(product.id);
    await later();
    expect((await statusOf(product.id, ticket)).body).toMatchObject({ state: "admitted" });
  }, 60_000);

  it("needs a verified Turnstile token to join when the shop set a secret, each token once", async () => {
    const { product } = await drop(10, 60_000);
    const guarded = { TURNSTILE_SECRET: TURNSTILE_TEST_SECRET } as Partial<Env>;
    const joinWith = (turnstileToken?: string) =>
      call(
        `/v1/drops/${product.id}/tickets`,
        {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify({
            email: `${unique("t")}@example.com`,
            ...(turnstileToken ? { turnstileToken } : {}),
          }),
        },
        guarded,
      );
    const missing = await joinWith();
    expect(missing.status).toBe(403);
    expect(await missing.json()).toMatchObject({ code: "turnstile_required" });
    const bad = await joinWith("bot");
    expect(bad.status).toBe(403);
    expect(await bad.json()).toMatchObject({
      code: "turnstile_failed",
      errorCodes: ["invalid-input-response"],
    });
    const token = `pass-${unique("tok")}`;
    expect((await joinWith(token)).status).toBe(201);
    const reused = await joinWith(token);
    expect(reused.status).toBe(403);
    expect(await reused.json()).toMatchObject({ errorCodes: ["timeout-or-duplicate"] });
    const unreachable = await call(
      `/v1/drops/${product.id}/tickets`,
      {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify({ email: "u@example.com", turnstileToken: "pass-x" }),
      },
      { ...guarded, TURNSTILE_VERIFY_URL: "http://127.0.0.1:9/siteverify" } as Partial<Env>,
    );
    expect(unreachable.status).toBe(503);
    expect(unreachable.headers.get("Retry-After")).toBe("2");
  });

  it("answers 404 for a product without a waiting room and 403 for a ticket of another drop", async () => {
    const plain = await createProduct();
    const missing = await call(`/v1/drops/${plain.id}/tickets`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ email: "a@example.com" }),
    });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "drop_not_found" });
    const one = await drop(5, 60_000);
    const other = await drop(5, 60_000);
    const { ticket } = await joinAs(one.product.id, "b@example.com");
    const wrong = await statusOf(other.product.id, ticket);
    expect(wrong.status).toBe(403);
    expect(wrong.body).toMatchObject({ code: "ticket_invalid" });
  });
});

/** Every ticket's status, by the room's state of now (this isolate's copy of it aged out first). */
async function freshStatuses(productId: string, tickets: string[]) {
  await later();
  return (await statusesOf(productId, tickets)).map((status) => status.body);
}

const roomOf = (productId: string) => env.ROOMS.getByName(productId);

/** Checks out `quantity` of the drop with an admitted ticket's pass, and waits for the order to be paid. */
async function buyWith(sku: string, email: string, pass: string, quantity = 1) {
  const response = await postCheckout(
    checkoutBody([{ sku, quantity }], "tok_ok", { customer: { email }, admission: { pass } }),
  );
  expect(response.status).toBe(202);
  const accepted = await response.json<Accepted>();
  expect((await settledOrder(accepted.orderId, accepted.orderToken)).status).toBe("paid");
}

async function lineOf(productId: string, people: number, prefix: string) {
  const line = [];
  for (let i = 0; i < people; i++) {
    const email = `${unique(prefix)}@example.com`;
    line.push({ email, ...(await joinAs(productId, email)) });
  }
  return line;
}

describe("a drop's waiting room keeps its word", () => {
  it("counts buyers served, not units, against its cap of 1.5 admitted buyers per unit left", async () => {
    const { product, sku } = await drop(20, -1000, 6000, { maxPerOrder: 10 });
    const line = await lineOf(product.id, 50, "cap");
    await tick(product.id);
    expect((await roomOf(product.id).state()).admitted).toBe(30);
    const statuses = await freshStatuses(
      product.id,
      line.map((entry) => entry.ticket),
    );
    const first = line.findIndex((_, i) => statuses[i]?.state === "admitted");
    await buyWith(sku, line[first]?.email ?? "", statuses[first]?.pass ?? "", 10);
    const restock = { delta: 10, reason: "found a box" };
    expect((await admin("POST", `/v1/admin/inventory/${sku}/adjustments`, restock)).status).toBe(200);

    // One buyer took 10 units: 29 admitted buyers have not bought, for 20 units left (a cap of 30).
    await tick(product.id);
    const after = await roomOf(product.id).state();
    expect(after.unitsLeft).toBe(20);
    expect(after.admitted).toBe(31);
  }, 90_000);

  it("admits again within a tick when a sold-out drop is restocked by a stock take", async () => {
    const { product, sku } = await drop(2, -1000, 6000);
    const line = await lineOf(product.id, 6, "restock");
    await tick(product.id);
    const statuses = await freshStatuses(
      product.id,
      line.map((entry) => entry.ticket),
    );
    const admitted = line.flatMap((entry, i) =>
      statuses[i]?.state === "admitted" ? [{ ...entry, pass: statuses[i]?.pass ?? "" }] : [],
    );
    expect(admitted).toHaveLength(3);
    for (const buyer of admitted.slice(0, 2)) await buyWith(sku, buyer.email, buyer.pass);
    await tick(product.id);
    expect((await roomOf(product.id).state()).soldOut).toBe(true);
    // While it is sold out, the unused pass meets the stock's answer: nothing left.
    await later();
    const unused = { customer: { email: admitted[2]?.email }, admission: { pass: admitted[2]?.pass } };
    const meanwhile = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok", unused));
    expect(meanwhile.status).toBe(409);

    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 2 })).status).toBe(200);
    await tick(product.id);
    const reopened = await roomOf(product.id).state();
    expect(reopened.soldOut).toBe(false);
    expect(reopened.unitsLeft).toBe(2);
    // The three still in line are let in for the 2 units; the pass given before the sellout is spent.
    expect(reopened.admitted).toBe(6);
    const now = await freshStatuses(
      product.id,
      line.map((entry) => entry.ticket),
    );
    const first = new Set(admitted.map((buyer) => buyer.email));
    const stateOf = (i: number) => now[i]?.state;
    expect(line.flatMap((entry, i) => (first.has(entry.email) ? [] : [stateOf(i)]))).toEqual([
      "admitted",
      "admitted",
      "admitted",
    ]);
    expect(stateOf(line.findIndex((entry) => entry.email === admitted[2]?.email))).toBe("expired");
    const spent = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok", unused));
    expect(spent.status).toBe(403);
    expect(await spent.json()).toMatchObject({ code: "admission_pass_expired" });
  }, 90_000);

  it("hears of a postponed start from the admin change, not from a join, and admits nobody before it", async () => {
    const product = await createProduct({
      saleStartsAt: new Date(Date.now() + 2000).toISOString(),
      waitingRoom: { admitPerMinute: 600 },
    });
    const sku = product.variants[0]?.sku ?? "";
    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 10 })).status).toBe(200);
    const line = await lineOf(product.id, 5, "postponed");
    await handOnJoins(env, true);

    const { id, updatedAt: _, ...input } = product;
    const postponed = new Date(Date.now() + 3_600_000).toISOString();
    expect(
      (await admin("PUT", `/v1/admin/products/${id}`, { ...input, saleStartsAt: postponed })).status,
    ).toBe(200);
    // Past the old start, with nobody joining since the change.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await runDurableObjectAlarm(roomOf(product.id));
    const state = await roomOf(product.id).state();
    expect(state.startsAt).toBe(Date.parse(postponed));
    expect(state.admitted).toBe(0);
    const statuses = await freshStatuses(
      product.id,
      line.map((entry) => entry.ticket),
    );
    expect(new Set(statuses.map((status) => status.state))).toEqual(new Set(["not_started"]));
  }, 60_000);

  it("answers 503 when the room cannot hear of a change, and the cron's safety net tells it", async () => {
    const startsAt = Date.now() + 60_000;
    const { product } = await drop(10, startsAt - Date.now(), 600);
    await joinAs(product.id, `${unique("net")}@example.com`);
    await handOnJoins(env, true);
    const heard = (await roomOf(product.id).state()).startsAt;
    const { id, updatedAt: _, ...input } = product;
    const postponed = new Date(startsAt + 3_600_000).toISOString();
    const unreachable = {
      getByName: () => ({
        configure: async () => {
          throw new Error("room unreachable");
        },
      }),
    } as unknown as Env["ROOMS"];
    const saved = await admin(
      "PUT",
      `/v1/admin/products/${id}`,
      { ...input, saleStartsAt: postponed },
      { ROOMS: unreachable },
    );
    expect(saved.status).toBe(503);
    expect(saved.headers.get("Retry-After")).toBe("2");
    expect((await roomOf(product.id).state()).startsAt).toBe(heard);

    expect(await tellRoomsOfChangedDrops(env, new Date(Date.now() - 5_000))).toBeGreaterThanOrEqual(1);
    expect((await roomOf(product.id).state()).startsAt).toBe(Date.parse(postponed));
  }, 60_000);

  it("moves the passes it already gave to a postponed start", async () => {
    const { product } = await drop(10, -1000, 600);
    const line = await lineOf(product.id, 3, "moved");
    await tick(product.id);
    expect((await roomOf(product.id).state()).admitted).toBe(3);

    const { id, updatedAt: _, ...input } = product;
    const startsAt = Date.now() + 3000;
    expect(
      (
        await admin("PUT", `/v1/admin/products/${id}`, {
          ...input,
          saleStartsAt: new Date(startsAt).toISOString(),
        })
      ).status,
    ).toBe(200);
    const before = await freshStatuses(
      product.id,
      line.map((entry) => entry.ticket),
    );
    expect(new Set(before.map((status) => status.state))).toEqual(new Set(["not_started"]));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startsAt - Date.now()) + 200));
    await runDurableObjectAlarm(roomOf(product.id));
    const after = await freshStatuses(
      product.id,
      line.map((entry) => entry.ticket),
    );
    expect(after.map((status) => status.state)).toEqual(["admitted", "admitted", "admitted"]);
    // Each pass runs its 10 minutes from the new start.
    expect(after.map((status) => Date.parse(status.passExpiresAt ?? ""))).toEqual(
      Array(3).fill(startsAt + PASS_TTL_MS),
    );
  }, 60_000);

  it("puts a customer whose pass lapsed at the back of the line, and counts their second admission", async () => {
    const { product, sku } = await drop(10, -1000, 600);
    const email = `${unique("lapsed")}@example.com`;
    const first = await joinAs(product.id, email);
    await tick(product.id);
    expect((await roomOf(product.id).state()).admitted).toBe(1);
    // Ten minutes and more pass: the ticket's turn and its join are that old.
    await runInDurableObject(roomOf(product.id), async (_room, state) => {
      state.storage.sql.exec("UPDATE steps SET at = at - 660000");
    });
    const old = await verify(secret(), first.ticket, Ticket);
    const aged = await sign(secret(), { ...(old as Ticket), joinedAt: (old?.joinedAt ?? 0) - 660_000 });
    expect((await freshStatuses(product.id, [aged]))[0]?.state).toBe("expired");

    const again = await joinAs(product.id, email);
    const behind = await joinAs(product.id, `${unique("behind")}@example.com`);
    await tick(product.id);
    const [rejoined, other] = await freshStatuses(product.id, [again.ticket, behind.ticket]);
    expect(rejoined?.state).toBe("admitted");
    expect(other?.state).toBe("admitted");
    await buyWith(sku, email, rejoined?.pass ?? "");
    const state = await roomOf(product.id).state();
    expect(state.joined).toBe(3);
    expect(state.admitted).toBe(3);
  }, 60_000);

  it("counts a lost join that the edge shows admitted once its status is asked", async () => {
    const { product } = await drop(10, -1000, 600);
    const line = await lineOf(product.id, 2, "seen");
    await tick(product.id);
    expect((await roomOf(product.id).state()).admitted).toBe(2);
    const [front] = await Promise.all(line.map((entry) => verify(secret(), entry.ticket, Ticket)));
    // A join whose isolate went before handing it on: a place just behind the front, never reported.
    const email = `${unique("lost")}@example.com`;
    const customer = await customerHash(env, email);
    const lost = await sign(secret(), {
      kind: "ticket",
      id: "2".repeat(32),
      productId: product.id,
      customer,
      rank: (front?.rank ?? 1) + 1e-7,
      joinedAt: Date.now(),
    });
    expect((await freshStatuses(product.id, [lost]))[0]?.state).toBe("admitted");
    await handOnJoins(env, true);
    const state = await roomOf(product.id).state();
    expect(state.joined).toBe(3);
    expect(state.admitted).toBe(3);
  }, 60_000);
});
