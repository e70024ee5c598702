import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { setDraw, setDrawCancelled } from "../src/catalog/catalog.service";
import { DrawBook } from "../src/draws/draw-book.do";
import { customerShard, DRAW_SHARDS } from "../src/draws/draws";
import type { Timeline } from "../src/orders/draw/draw.service";
import { DrawRunner } from "../src/orders/draw/draw-runner.do";
import { customerKey } from "../src/shared/customer-key";
import {
  authorizations,
  type DrawProduct,
  drawProduct,
  drawReaches,
  type Entered,
  enter,
  entryCall,
  eventually,
} from "./draws.helpers";
import { admin, breakMethod, call, createProduct, takeD1Down, testScope, unique } from "./helpers";

/** The operator's view of a draw (entries over time, its progress) and a cancelled draw in the catalog. */

type Status = {
  phase: string;
  opensAt: string;
  closesAt: string;
  cancelledAt: string | null;
  won: number;
  passedOn: number;
  held: number;
  givenBack: number;
  authorizations: { released: number; toCancel: number };
};

const MINUTE = 60_000;

async function statusOf(draw: DrawProduct): Promise<Status> {
  return (await admin("GET", `/v1/admin/products/${draw.id}/draw`)).json<Status>();
}

const timeline = (draw: DrawProduct, query: string) =>
  admin("GET", `/v1/admin/products/${draw.id}/draw/timeline${query}`);

/** Writes an entry straight into one of the draw's books, entered at `at` (withdrawn at `withdrawnAt`). */
async function bookEntry(
  draw: DrawProduct,
  window: { product: string; opensAt: number; closesAt: number },
  shard: number,
  at: number,
  withdrawnAt?: number,
) {
  const book = env.DRAW_BOOKS.getByName(`${draw.id}:${shard}`);
  const id = crypto.randomUUID();
  const entryId = `e-${id}`;
  const hex = (text: string) => Array.from({ length: 64 }, (_, i) => text[i % text.length]).join("");
  const begun = await book.begin(
    {
      window,
      entryId,
      customer: `${id}@example.com`,
      email: `${id}@example.com`,
      name: null,
      address: null,
      sku: draw.sku,
      amount: 1_000,
      currency: "USD",
      pricing: null,
      token: "tok_ok",
      keyHash: hex(id.replaceAll("-", "").toLowerCase()),
      bodyHash: hex("b"),
    },
    at,
  );
  expect(begun.kind).toBe("begun");
  await book.apply(entryId, { type: "authorizing" }, at);
  const entered = await book.apply(
    entryId,
    { type: "authorized", intentId: `pi_${id}`, expiresAt: window.closesAt + 86_400_000 },
    at,
  );
  expect(entered?.entry.state).toBe("entered");
  if (withdrawnAt !== undefined) await book.apply(entryId, { type: "withdraw" }, withdrawnAt);
}

describe("a draw's entries over time", () => {
  it("sums its books' buckets, each entry in the minute it entered and each withdrawal in the minute it left", async () => {
    const draw = await drawProduct({ opensInMs: -3 * 3_600_000, closesInMs: 3_600_000 });
    const status = await statusOf(draw);
    const window = {
      product: draw.id,
      opensAt: Date.parse(status.opensAt),
      closesAt: Date.parse(status.closesAt),
    };
    // On a whole ten minutes, so that every entry below also falls in one ten-minute bucket.
    const minute = Math.ceil(window.opensAt / (10 * MINUTE)) * 10 * MINUTE + 10 * MINUTE;
    await bookEntry(draw, window, 0, minute + 10_000);
    await bookEntry(draw, window, 0, minute + 50_000);
    await bookEntry(draw, window, 3, minute + 20_000);
    await bookEntry(draw, window, 3, minute + 2 * MINUTE);
    await bookEntry(draw, window, DRAW_SHARDS - 1, minute + 2 * MINUTE + 59_999, minute + 4 * MINUTE + 1);

    const from = new Date(minute - 5 * MINUTE).toISOString();
    const to = new Date(minute + 10 * MINUTE).toISOString();
    const response = await timeline(draw, `?from=${from}&to=${to}&bucketSeconds=60`);
    expect(response.status).toBe(200);
    const answer = await response.json<Timeline>();
    expect(answer).toMatchObject({ bucketSeconds: 60, from, to, entered: 5, withdrawn: 1 });
    expect(answer.points).toHaveLength(15);
    const busy = answer.points.filter((point) => point.entered > 0 || point.withdrawn > 0);
    expect(busy).toEqual([
      { at: new Date(minute).toISOString(), entered: 3, withdrawn: 0 },
      { at: new Date(minute + 2 * MINUTE).toISOString(), entered: 2, withdrawn: 0 },
      { at: new Date(minute + 4 * MINUTE).toISOString(), entered: 0, withdrawn: 1 },
    ]);

    // Two days in minutes would be 2,880 points: the buckets grow to keep it to a few hundred.
    const wide = await (
      await timeline(
        draw,
        `?from=${new Date(minute - 86_400_000).toISOString()}&to=${new Date(minute + 86_400_000).toISOString()}`,
      )
    ).json<Timeline>();
    expect(wide.bucketSeconds).toBe(600);
    expect(wide.points.length).toBeLessThanOrEqual(360);
    expect(wide).toMatchObject({ entered: 5, withdrawn: 1 });
    expect(wide.points.filter((point) => point.entered > 0)).toEqual([
      { at: new Date(minute).toISOString(), entered: 5, withdrawn: 1 },
    ]);

    // By default: from the open to now, every bucket answered.
    const whole = await (await timeline(draw, "")).json<Timeline>();
    expect(whole).toMatchObject({ bucketSeconds: 60, entered: 5, withdrawn: 1 });
    expect(Date.parse(whole.from)).toBeLessThanOrEqual(window.opensAt);
    expect(Date.parse(whole.to)).toBeGreaterThanOrEqual(Date.now() - MINUTE);
  });

  it("refuses a bad query with a problem, and answers 503 with Retry-After when a book does not answer", async () => {
    const draw = await drawProduct();
    for (const query of [
      "?bucketSeconds=soon",
      "?bucketSeconds=1",
      "?from=yesterday",
      `?from=${new Date().toISOString()}&to=${new Date(Date.now() - MINUTE).toISOString()}`,
      "?from=1969-12-31T23:00:00Z&to=1970-01-01T01:00:00Z",
      "?from=1969-12-31T23:00:00Z",
    ]) {
      const refused = await timeline(draw, query);
      expect([query, refused.status]).toEqual([query, 400]);
      expect(refused.headers.get("Content-Type")).toContain("application/problem+json");
      expect(await refused.json()).toMatchObject({ code: "validation_failed" });
    }
    // Only `from` sent, after the close (the default `to`): the error names `from`.
    const late = await timeline(draw, `?from=${new Date(Date.now() + 7_200_000).toISOString()}`);
    expect(late.status).toBe(400);
    expect(await late.json()).toMatchObject({ errors: [{ path: "from" }] });
    expect((await admin("GET", "/v1/admin/products/no-such-product/draw/timeline")).status).toBe(404);
    const restore = breakMethod(DrawBook.prototype, "timeline", () => {
      throw new Error("timeline: Durable Object is overloaded");
    });
    try {
      const down = await timeline(draw, "");
      expect(down.status).toBe(503);
      expect(down.headers.get("Retry-After")).toBe("2");
      const problem = await down.json<{ code: string; detail: string }>();
      expect(problem.code).toBe("service_unavailable");
      expect(problem.detail).not.toMatch(/Error|overloaded/);
    } finally {
      restore();
    }
    // A fault inside a book is not an outage: no Retry-After, and nothing of it answered.
    const restoreFault = breakMethod(DrawBook.prototype, "timeline", () => {
      throw new TypeError("something is wrong in the book");
    });
    try {
      const broken = await timeline(draw, "");
      expect(broken.status).toBe(500);
      expect(broken.headers.get("Retry-After")).toBeNull();
      expect(await broken.text()).not.toMatch(/something is wrong/);
    } finally {
      restoreFault();
    }
    expect((await timeline(draw, "")).status).toBe(200);
  });
});

describe("a draw's progress", () => {
  it("counts the captures, the entry passed on, the authorizations released and the unit given back", async () => {
    const draw = await drawProduct({ onHand: 3, units: 3, closesInMs: 3_000 });
    const tokens = ["tok_ok.card_pa", "tok_capture_fails.card_pb", "tok_ok.card_pc"];
    for (const [i, paymentToken] of tokens.entries()) {
      expect((await enter(draw, { email: `prog${i}@example.com`, paymentToken })).status).toBe(201);
    }
    const quitter = await (
      await enter(draw, { email: "prog-quit@example.com", paymentToken: "tok_ok.card_pq" })
    ).json<Entered>();
    expect((await entryCall(draw, quitter.entryToken, "DELETE")).status).toBe(200);
    const proof = await drawReaches(draw, "drawn", 60_000);
    expect(proof.passedOn).toHaveLength(1);
    await eventually(
      async () =>
        expect(await statusOf(draw)).toMatchObject({
          phase: "drawn",
          won: 2,
          passedOn: 1,
          held: 0,
          givenBack: 1,
          cancelledAt: null,
          // The withdrawn entry's, and the one whose capture failed (cancelled after it).
          authorizations: { released: 2, toCancel: 0 },
        }),
      40_000,
    );
  }, 90_000);
});

describe("a short draw's progress", () => {
  it("counts as given back only the units it held, not the ones it never could", async () => {
    const product = await createProduct();
    const sku = product.variants[0]?.sku ?? "";
    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 2 })).status).toBe(200);
    const setup = await admin("POST", `/v1/admin/products/${product.id}/draw`, {
      opensAt: new Date(Date.now() - MINUTE).toISOString(),
      closesAt: new Date(Date.now() + 3_600_000).toISOString(),
      units: { [sku]: 5 },
    });
    expect(await setup.json()).toMatchObject({ code: "draw_stock_short" });
    await eventually(async () => {
      const status = await (await admin("GET", `/v1/admin/products/${product.id}/draw`)).json<Status>();
      expect(status).toMatchObject({ phase: "short", held: 0, givenBack: 2 });
    });
    expect((await call(`/v1/inventory/${sku}`)).status).toBe(200);
  });
});

type ProductBody = { draw?: { cancelledAt?: string; commitment: string } };

describe("a cancelled draw in the catalog", () => {
  it("shows the product's draw cancelled on the next read, and refuses entries", async () => {
    const draw = await drawProduct({ onHand: 4, units: 2 });
    expect((await call(`/v1/products/${draw.id}`)).status).toBe(200);
    const cancelled = await admin("DELETE", `/v1/admin/products/${draw.id}/draw`);
    expect(cancelled.status).toBe(200);
    const status = await cancelled.json<Status>();
    expect(status.cancelledAt).toMatch(/^\d{4}-/);
    const product = await (await call(`/v1/products/${draw.id}`)).json<ProductBody>();
    expect(product.draw).toMatchObject({ cancelledAt: status.cancelledAt, commitment: draw.commitment });
    const late = await enter(draw, { email: "after-cancel@example.com" });
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({
      code: "draw_closed",
      detail: expect.stringMatching(/cancelled/),
    });
    // Setting the same draw up again changes nothing: it stays cancelled.
    const again = await admin("POST", `/v1/admin/products/${draw.id}/draw`, {
      opensAt: status.opensAt,
      closesAt: status.closesAt,
      units: { [draw.sku]: 2 },
    });
    expect(again.status).toBe(409);
    expect((await (await call(`/v1/products/${draw.id}`)).json<ProductBody>()).draw?.cancelledAt).toBe(
      status.cancelledAt,
    );
    // A setup's publication that lands after the cancel's (they race from two requests) leaves it cancelled.
    const { scope, settled } = testScope();
    const published = await setDraw(scope, draw.id, {
      opensAt: status.opensAt,
      closesAt: status.closesAt,
      units: { [draw.sku]: 2 },
      commitment: draw.commitment,
    });
    await settled();
    expect(published.draw?.cancelledAt).toBe(status.cancelledAt);
  }, 30_000);

  it("is shown by the draw's alarm once D1 answers again when it was down at the cancel", async () => {
    const draw = await drawProduct({ onHand: 4, units: 2 });
    const entered = await (
      await enter(draw, { email: "d1-down@example.com", paymentToken: "tok_ok.card_dd" })
    ).json<Entered>();
    const restore = takeD1Down();
    let cancelledAt: string | null = null;
    try {
      const cancelled = await admin("DELETE", `/v1/admin/products/${draw.id}/draw`);
      expect(cancelled.status).toBe(200);
      cancelledAt = (await cancelled.json<Status>()).cancelledAt;
      // The entrants are let go without D1: their authorizations are cancelled all the same.
      await eventually(async () =>
        expect(await (await entryCall(draw, entered.entryToken)).json()).toMatchObject({
          state: "lost",
          reason: "draw_cancelled",
        }),
      );
      // Entries are refused meanwhile: the draw's books are frozen.
      expect((await enter(draw, { email: "while-down@example.com" })).status).toBe(409);
      // The alarm has tried (and failed) to show it.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
    } finally {
      restore();
    }
    await eventually(async () => {
      const product = await (await call(`/v1/products/${draw.id}`)).json<ProductBody>();
      expect(product.draw?.cancelledAt).toBe(cancelledAt);
    }, 30_000);
  }, 90_000);
});

/** Holds every draw's alarm until the returned function lets them go: only the admin request acts. */
function holdDrawAlarms(): () => void {
  const original = Reflect.get(DrawRunner.prototype, "alarm") as (...args: unknown[]) => Promise<void>;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const restore = breakMethod(
    DrawRunner.prototype,
    "alarm",
    async function (this: unknown, ...args: unknown[]) {
      await gate;
      return original.apply(this, args);
    },
  );
  return () => {
    restore();
    release();
  };
}

const bookName = (book: DrawBook) => (Reflect.get(book, "ctx") as DurableObjectState).id.name ?? "";

/** Whether each of the draw's books is frozen, by shard. */
async function frozenBooks(draw: DrawProduct): Promise<boolean[]> {
  return Promise.all(
    Array.from({ length: DRAW_SHARDS }, async (_, shard) => {
      const { window } = await env.DRAW_BOOKS.getByName(`${draw.id}:${shard}`).counts();
      return window?.frozenAt !== null && window?.frozenAt !== undefined;
    }),
  );
}

describe("a cancel stops entries at once", () => {
  it("refuses a pending entry resumed after the cancel (back from 3-D Secure) and cancels its hold, even before its book froze", async () => {
    const draw = await drawProduct();
    const key = unique("k");
    const body = { email: "resume@example.com", paymentToken: "tok_3ds.card_rs" };
    const waiting = await enter(draw, body, key);
    expect(waiting.status).toBe(202);
    const first = await waiting.json<Entered>();
    // No book can be frozen (slow, unreachable, or not reached yet).
    const restore = breakMethod(DrawBook.prototype, "freeze");
    try {
      expect((await admin("DELETE", `/v1/admin/products/${draw.id}/draw`)).status).toBe(200);
      const [hold] = await authorizations(first.entry.entryId);
      await env.SIMULATOR.getByName("simulator").answerChallenge(hold?.id ?? "", true);
      const resumed = await enter(draw, body, key);
      expect(resumed.status).toBe(409);
      expect(await resumed.json()).toMatchObject({
        code: "draw_closed",
        cancelledAt: expect.stringMatching(/^\d{4}-/),
      });
      expect((await authorizations(first.entry.entryId)).map((one) => one.status)).toEqual(["cancelled"]);
    } finally {
      restore();
    }
  }, 60_000);

  it("freezes every book before the DELETE answers, so a stale catalog copy (D1 down) lets no entry in", async () => {
    const draw = await drawProduct();
    expect((await call(`/v1/products/${draw.id}`)).status).toBe(200);
    const letAlarmsGo = holdDrawAlarms();
    const restoreD1 = takeD1Down();
    try {
      expect((await admin("DELETE", `/v1/admin/products/${draw.id}/draw`)).status).toBe(200);
      expect(await frozenBooks(draw)).toEqual(Array(DRAW_SHARDS).fill(true));
      const late = await enter(draw, { email: "late@example.com", paymentToken: "tok_ok.card_lt" });
      expect(late.status).toBe(409);
      expect(await late.json()).toMatchObject({ code: "draw_closed" });
    } finally {
      restoreD1();
      letAlarmsGo();
    }
  }, 60_000);

  it("freezes the other books when one does not answer, and tells their entrants", async () => {
    const draw = await drawProduct();
    // An entrant whose book is not the failing one (shard 0), so it is told only if the others go on.
    let email = "";
    for (let i = 0; !email || customerShard(draw.id, customerKey(email)) === 0; i++)
      email = `other${i}@example.com`;
    const entered = await (await enter(draw, { email, paymentToken: "tok_ok.card_ob" })).json<Entered>();
    const freeze = Reflect.get(DrawBook.prototype, "freeze") as (...args: unknown[]) => unknown;
    const restore = breakMethod(DrawBook.prototype, "freeze", function (this: DrawBook, ...args: unknown[]) {
      if (bookName(this) === `${draw.id}:0`) throw new Error("freeze: Durable Object is overloaded");
      return freeze.apply(this, args);
    });
    const letAlarmsGo = holdDrawAlarms();
    try {
      expect((await admin("DELETE", `/v1/admin/products/${draw.id}/draw`)).status).toBe(200);
      expect(await frozenBooks(draw)).toEqual([false, ...Array(DRAW_SHARDS - 1).fill(true)]);
      letAlarmsGo();
      await eventually(async () =>
        expect(await (await entryCall(draw, entered.entryToken)).json()).toMatchObject({
          state: "lost",
          reason: "draw_cancelled",
        }),
      );
    } finally {
      letAlarmsGo();
      restore();
    }
    await eventually(
      async () => expect(await frozenBooks(draw)).toEqual(Array(DRAW_SHARDS).fill(true)),
      30_000,
    );
  }, 90_000);

  it("tells the entrants of a draw cancelled while a step runs as soon as that step ends", async () => {
    const draw = await drawProduct();
    const entered = await (
      await enter(draw, { email: "slow-step@example.com", paymentToken: "tok_ok.card_ss" })
    ).json<Entered>();
    const notices = Reflect.get(DrawBook.prototype, "notices") as (...args: unknown[]) => unknown;
    let stalled = false;
    let reached!: () => void;
    const inStep = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const restore = breakMethod(
      DrawBook.prototype,
      "notices",
      async function (this: unknown, ...args: unknown[]) {
        if (!stalled) {
          stalled = true;
          reached();
          await new Promise((resolve) => setTimeout(resolve, 1_500));
        }
        return notices.apply(this, args);
      },
    );
    try {
      await inStep;
      const asked = Date.now();
      expect((await admin("DELETE", `/v1/admin/products/${draw.id}/draw`)).status).toBe(200);
      expect(await frozenBooks(draw)).toEqual(Array(DRAW_SHARDS).fill(true));
      await eventually(async () =>
        expect(await (await entryCall(draw, entered.entryToken)).json()).toMatchObject({ state: "lost" }),
      );
      // Not at the next sweep (5 to 15 s later): the step that ran at the cancel comes back at once.
      expect(Date.now() - asked).toBeLessThan(4_000);
    } finally {
      restore();
    }
  }, 90_000);
});

describe("a cancelled draw's catalog copies", () => {
  it("are published again after a product edit that raced the cancel left them showing the draw open", async () => {
    const draw = await drawProduct();
    const current = await (await call(`/v1/products/${draw.id}`)).json<Record<string, unknown>>();
    const { id: _id, updatedAt: _updatedAt, draw: _draw, ...input } = current;
    // The edit's D1 batch answers only once the cancel is done: it read the product before the cancel
    // and publishes it (without the cancel) after.
    const prototype = Object.getPrototypeOf(env.DB);
    const batch = Reflect.get(prototype, "batch") as (...args: unknown[]) => Promise<unknown>;
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let armed = true;
    const restore = breakMethod(prototype, "batch", async function (this: unknown, ...args: unknown[]) {
      const result = await batch.apply(this, args);
      if (armed) {
        armed = false;
        reached();
        await gate;
      }
      return result;
    });
    try {
      const edit = admin("PUT", `/v1/admin/products/${draw.id}`, { ...input, title: "edited" });
      await atGate;
      expect((await admin("DELETE", `/v1/admin/products/${draw.id}/draw`)).status).toBe(200);
      letGo();
      expect((await edit).status).toBe(200);
    } finally {
      restore();
    }
    const raced = await (await call(`/v1/products/${draw.id}`)).json<{ title: string } & ProductBody>();
    expect(raced.title).toBe("edited");
    expect(raced.draw?.cancelledAt).toBeUndefined();
    await eventually(async () => {
      const product = await (await call(`/v1/products/${draw.id}`)).json<{ title: string } & ProductBody>();
      expect(product).toMatchObject({
        title: "edited",
        draw: { cancelledAt: expect.stringMatching(/^\d{4}-/) },
      });
    }, 60_000);
  }, 120_000);
});

describe("a cancel's edges", () => {
  it("answers a DELETE that cancelled with the draw's status even when a book cannot be counted", async () => {
    const draw = await drawProduct();
    const counts = Reflect.get(DrawBook.prototype, "counts") as (...args: unknown[]) => unknown;
    const restore = breakMethod(DrawBook.prototype, "counts", function (this: DrawBook, ...args: unknown[]) {
      if (bookName(this) === `${draw.id}:3`) throw new Error("counts: Durable Object is overloaded");
      return counts.apply(this, args);
    });
    try {
      const cancelled = await admin("DELETE", `/v1/admin/products/${draw.id}/draw`);
      expect(cancelled.status).toBe(200);
      const status = await cancelled.json<Status & { books?: unknown }>();
      expect(status).toMatchObject({ phase: "cancelled", cancelledAt: expect.stringMatching(/^\d{4}-/) });
      expect(status.books).toBeUndefined();
      expect(status.authorizations).toBeUndefined();
    } finally {
      restore();
    }
  });

  it("gives one time of cancel to every view of a draw cancelled before the time was kept", async () => {
    const draw = await drawProduct();
    expect((await admin("DELETE", `/v1/admin/products/${draw.id}/draw`)).status).toBe(200);
    const runner = env.DRAWS.getByName(draw.id);
    await runInDurableObject(runner, (_, state) => {
      state.storage.sql.exec("UPDATE draw SET cancelled_at = NULL");
    });
    const status = await runner.status();
    const shown = await runner.cancelledDraw();
    expect(status?.cancelledAt).toMatch(/^\d{4}-/);
    expect(shown?.cancelledAt).toBe(status?.cancelledAt);
    expect((await runner.status())?.cancelledAt).toBe(status?.cancelledAt);
  });

  it("shows a cancel in the catalog only on the draw it cancelled (the same commitment)", async () => {
    const draw = await drawProduct();
    const { scope, settled } = testScope();
    const status = await statusOf(draw);
    const other = { opensAt: status.opensAt, closesAt: status.closesAt, units: { [draw.sku]: 3 } };
    expect(
      await setDrawCancelled(
        scope,
        draw.id,
        { ...other, commitment: "0".repeat(64) },
        new Date().toISOString(),
      ),
    ).toBe(false);
    await settled();
    expect(
      (await (await call(`/v1/products/${draw.id}`)).json<ProductBody>()).draw?.cancelledAt,
    ).toBeUndefined();
    expect(
      await setDrawCancelled(
        scope,
        draw.id,
        { ...other, commitment: draw.commitment },
        new Date().toISOString(),
      ),
    ).toBe(true);
    await settled();
  });
});

describe("a book's counts", () => {
  it("read a covering index, not the entries' rows", async () => {
    const draw = await drawProduct();
    const book = env.DRAW_BOOKS.getByName(`${draw.id}:0`);
    await book.counts();
    const plans = await runInDurableObject(book, (_, state) =>
      [
        "SELECT state, COUNT(*) AS n FROM entries GROUP BY state",
        "SELECT SUM(auth = 'done'), SUM(auth IN ('maybe', 'owed') AND state NOT IN ('pending', 'entered')) FROM entries",
      ].map((query) =>
        state.storage.sql
          .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`)
          .toArray()
          .map((row) => row.detail)
          .join(" | "),
      ),
    );
    for (const plan of plans) expect(plan).toMatch(/USING COVERING INDEX entries_state_auth/);
  });
});

describe("a cancelled draw's catalog write while D1 refuses it", () => {
  it("is tried again later and later (5 s, doubling), not at every step", async () => {
    const draw = await drawProduct();
    const tries: number[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((line: unknown) => {
      if (String(line).includes("could not be shown in the catalog yet") && String(line).includes(draw.id)) {
        tries.push(Date.now());
      }
    });
    const restore = takeD1Down();
    try {
      const asked = Date.now();
      expect((await admin("DELETE", `/v1/admin/products/${draw.id}/draw`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 32_000));
      // After the request's 5 s grace: at about 5, 10 and 20 s (then 40 s), where every 5 s would be 6;
      // the object may be evicted while it waits, and keeps its backoff.
      expect(tries.length).toBeGreaterThanOrEqual(2);
      expect(tries.length).toBeLessThanOrEqual(4);
      const gaps = tries.slice(1).map((at, i) => at - (tries[i] ?? asked));
      expect(gaps.at(-1)).toBeGreaterThanOrEqual(9_000);
    } finally {
      restore();
      spy.mockRestore();
    }
  }, 60_000);
});
