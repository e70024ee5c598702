import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { handOnJoins } from "../src/drops/waiting-room";
import { SkuInventory } from "../src/inventory/inventory.do";
import { saleCounters } from "../src/metrics/sale-metrics";
import {
  admin,
  breakMethod,
  call,
  checkoutBody,
  postCheckout,
  settleShards,
  stockedSku,
  takeD1Down,
  unique,
} from "./helpers";

type Dashboard = {
  now: string;
  minutes: number;
  payments: { byStatus: Record<string, number>; paymentsPending: number } | null;
  intake: { owed: number } | null;
  recentOrders: { id: string }[] | null;
  sale: {
    stepSeconds: number;
    points: { at: string; perSecond: Record<string, number>; p50Ms: number | null; p99Ms: number | null }[];
    topSkus: { sku: string; units: number }[];
  } | null;
  stock:
    | (
        | {
            sku: string;
            known: true;
            committed: number;
            reserved: number;
            stocked: number;
            soldInWindow: number;
          }
        | { sku: string; known: false }
      )[]
    | null;
  unavailable: string[];
};

async function dashboard(query = "") {
  const response = await admin("GET", `/v1/admin/dashboard${query}`);
  expect(response.status).toBe(200);
  return response.json<Dashboard>();
}

const sum = (d: Dashboard, outcome: string) =>
  (d.sale?.points ?? []).reduce((n, p) => n + (p.perSecond[outcome] ?? 0) * (d.sale?.stepSeconds ?? 1), 0);

describe("GET /v1/admin/dashboard", () => {
  it("answers the whole ops page in one request: the sale's figures, payments, orders and the busiest SKUs", {
    timeout: 60_000,
  }, async () => {
    const before = await dashboard("?minutes=5");
    const sku = await stockedSku(3);
    const answers = [];
    for (let i = 0; i < 5; i++)
      answers.push((await postCheckout(checkoutBody([{ sku, quantity: 1 }]))).status);
    expect(answers).toEqual([202, 202, 202, 409, 409]);

    await settleShards();
    // Points end a few seconds back (isolates hand their counts on every 2 s), so wait for them.
    let after = await dashboard("?minutes=5");
    await vi.waitFor(
      async () => {
        after = await dashboard("?minutes=5");
        expect(Math.round(sum(after, "accepted") - sum(before, "accepted"))).toBeGreaterThanOrEqual(3);
        expect(Math.round(sum(after, "refused") - sum(before, "refused"))).toBeGreaterThanOrEqual(2);
        // Units count once their orders are paid (the shard's figures follow its payments).
        expect(after.sale?.topSkus).toContainEqual({ sku, units: 3 });
      },
      { timeout: 20_000, interval: 500 },
    );
    expect(after.unavailable).toEqual([]);
    expect(after.sale?.stepSeconds).toBe(5);
    expect(after.sale?.points).toHaveLength(60);
    expect(after.sale?.points.some((p) => p.p99Ms !== null)).toBe(true);
    expect(after.sale?.topSkus).toContainEqual({ sku, units: 3 });
    expect(after.stock).toContainEqual(
      expect.objectContaining({ sku, known: true, stocked: 3, soldInWindow: 3 }),
    );
    expect(after.payments?.byStatus).toHaveProperty("paid");
    expect(after.recentOrders?.length).toBeGreaterThan(0);
  });

  it("counts units as sold once their order is paid: a declined payment sells nothing", {
    timeout: 60_000,
  }, async () => {
    const sku = await stockedSku(5);
    const paid = await postCheckout(checkoutBody([{ sku, quantity: 2 }]));
    const declined = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_declined"));
    expect([paid.status, declined.status]).toEqual([202, 202]);
    await vi.waitFor(
      async () => {
        await settleShards();
        const data = await dashboard(`?minutes=5&skus=${sku}`);
        expect(data.stock).toContainEqual(expect.objectContaining({ sku, committed: 2, soldInWindow: 2 }));
      },
      { timeout: 20_000, interval: 500 },
    );
  });

  it("watches the SKUs asked for, and never touches an object for a SKU the catalog does not know", async () => {
    const sku = await stockedSku(7);
    const ghost = unique("GHOST").toUpperCase();
    const reached: string[] = [];
    const original = SkuInventory.prototype.countsAndLayout;
    const restore = breakMethod(SkuInventory.prototype, "countsAndLayout", function (this: SkuInventory) {
      reached.push((Reflect.get(this, "ctx") as DurableObjectState).id.name ?? "");
      return original.call(this);
    });
    let data: Dashboard;
    try {
      data = await dashboard(`?skus=${sku},${ghost}`);
    } finally {
      restore();
    }
    expect(reached).toEqual([sku]);
    expect(data.stock).toEqual([
      expect.objectContaining({ sku, known: true, stocked: 7, committed: 0 }),
      { sku: ghost, known: false },
    ]);
    expect((await admin("GET", "/v1/admin/dashboard?skus=bad%20sku")).status).toBe(400);
    expect((await admin("GET", "/v1/admin/dashboard?minutes=0")).status).toBe(400);
  });

  it("refuses without the admin token", async () => {
    expect((await call("/v1/admin/dashboard")).status).toBe(401);
  });

  it("still shows the sale and the stock while D1 is down, naming what it could not read", async () => {
    const sku = await stockedSku(4);
    expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }]))).status).toBe(202);
    const restore = takeD1Down();
    try {
      const data = await dashboard(`?skus=${sku}`);
      expect(data.unavailable).toEqual(["payments", "orders", "drops"]);
      expect(data.payments).toBeNull();
      expect(data.intake).not.toBeNull();
      expect(data.sale).not.toBeNull();
      expect(data.stock).toEqual([expect.objectContaining({ sku, known: true, reserved: 1 })]);
    } finally {
      restore();
    }
  });
});

describe("an isolate's sale counters", () => {
  it("keep what a failed hand-over took, added to what was counted meanwhile", () => {
    const now = Date.parse("2026-11-27T10:00:00.500Z");
    saleCounters.answer("accepted", 12, now);
    saleCounters.answer("accepted", 15, now);
    const taken = saleCounters.take(now, true) ?? [];
    saleCounters.answer("accepted", 9, now + 100);
    saleCounters.putBack(taken);
    const again = saleCounters.take(now + 200, true) ?? [];
    const second = again.find((s) => s.t === Math.floor(now / 1000));
    expect(second?.outcomes.accepted).toBe(3);
    expect(second?.latency.reduce((a, b) => a + b, 0)).toBe(3);
  });
});

describe("the ops page's view of drops' queues", () => {
  it("shows each waiting room: joined, waiting, let in, sold and units left", async () => {
    const product = await (
      await admin("POST", "/v1/admin/products", {
        slug: unique("queued"),
        title: "Queued for the ops page",
        category: "drops",
        saleStartsAt: new Date(Date.now() - 1000).toISOString(),
        waitingRoom: { admitPerMinute: 60 },
        variants: [{ sku: unique("Q").toUpperCase(), title: "One", price: { amount: 100, currency: "USD" } }],
      })
    ).json<{ id: string; variants: { sku: string }[] }>();
    expect(
      (await admin("PUT", `/v1/admin/inventory/${product.variants[0]?.sku}`, { onHand: 7 })).status,
    ).toBe(200);
    for (let i = 0; i < 3; i++) {
      const joined = await call(`/v1/drops/${product.id}/tickets`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: `${unique("o")}@example.com` }),
      });
      expect(joined.status).toBe(201);
    }
    await handOnJoins(env, true);
    await runDurableObjectAlarm(env.ROOMS.getByName(product.id));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const page = await (await admin("GET", "/v1/admin/dashboard")).json<{
      drops:
        | { productId: string; joined: number; waiting: number; admitted: number; unitsLeft: number }[]
        | null;
    }>();
    const room = page.drops?.find((d) => d.productId === product.id);
    expect(room).toMatchObject({ joined: 3, unitsLeft: 7 });
    expect((room?.admitted ?? 0) + (room?.waiting ?? 0)).toBe(3);
    expect(room?.admitted).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
