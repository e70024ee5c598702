import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { checkoutBody, postCheckout, stockedSku, unique } from "./helpers";

/**
 * Sold-out refusals ask the key's shard in batches (src/orders/intake/standings.ts). One shard here,
 * so every key of a test meets the same line and the batches are visible.
 */
const ONE_SHARD = { ORDER_SHARDS: "1" } as Partial<Env>;

type Stub = ReturnType<Env["ORDERS"]["getByName"]>;

/** The ORDERS binding, with each stub's refusalStandings replaced by `standings`. */
function ordersWith(standings: (stub: Stub, asks: unknown[]) => Promise<unknown>): Env["ORDERS"] {
  return new Proxy(env.ORDERS, {
    get(object, property) {
      const value = Reflect.get(object, property);
      if (property !== "getByName") return typeof value === "function" ? value.bind(object) : value;
      return (name: string) => {
        const stub = object.getByName(name);
        return new Proxy(stub, {
          get(target, method) {
            if (method === "refusalStandings") return (asks: unknown[]) => standings(target, asks);
            const member = Reflect.get(target, method);
            return typeof member === "function" ? member.bind(target) : member;
          },
        });
      };
    },
  });
}

/** A SKU with one unit, sold to an order placed under `key` with `body`; this isolate knows it gone. */
async function soldOutTo(key: string, body: unknown, sku: string) {
  const placed = await postCheckout(body, key, {}, ONE_SHARD);
  expect(placed.status).toBe(202);
  expect(
    (await postCheckout(checkoutBody([{ sku, quantity: 1 }]), unique("late"), {}, ONE_SHARD)).status,
  ).toBe(409);
  return placed.text();
}

describe("sold-out refusals asked of the shard in batches", () => {
  it("answers each of many concurrent refusals rightly, placed orders' retries their 202, in fewer calls", async () => {
    const sku = await stockedSku(3);
    const placed: { key: string; body: ReturnType<typeof checkoutBody>; answer: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const key = unique("placed");
      const body = checkoutBody([{ sku, quantity: 1 }], `tok_placed_${i}`);
      placed.push({ key, body, answer: "" });
    }
    // Three units, three orders; the third leaves the SKU sold out and this isolate remembering it.
    for (const order of placed.slice(0, 2)) {
      const response = await postCheckout(order.body, order.key, {}, ONE_SHARD);
      expect(response.status).toBe(202);
      order.answer = await response.text();
    }
    const last = placed[2] as (typeof placed)[number];
    last.answer = await soldOutTo(last.key, last.body, sku);

    const batches: number[] = [];
    const counted = ordersWith((stub, asks) => {
      batches.push(asks.length);
      return stub.refusalStandings(asks as never);
    });
    const bindings = { ...ONE_SHARD, ORDERS: counted };
    const late = Array.from({ length: 40 }, (_, i) => ({
      key: unique(`late-${i}`),
      body: checkoutBody([{ sku, quantity: 1 }]),
    }));
    // Retries of the placed orders among the late buyers, and one key reused with another body.
    const asked = [
      ...late.slice(0, 15),
      ...placed,
      ...late.slice(15),
      { key: (placed[0] as (typeof placed)[number]).key, body: checkoutBody([{ sku, quantity: 2 }]) },
    ];
    const responses = await Promise.all(asked.map(({ key, body }) => postCheckout(body, key, {}, bindings)));

    for (const [index, response] of responses.entries()) {
      const request = asked[index] as (typeof asked)[number];
      const order = placed.find((entry) => entry.key === request.key && entry.body === request.body);
      if (order) {
        expect(response.status).toBe(202);
        expect(response.headers.get("Idempotent-Replayed")).toBe("true");
        expect(await response.text()).toBe(order.answer);
      } else if (index === asked.length - 1) {
        expect(response.status).toBe(422);
        expect(await response.json()).toMatchObject({ code: "idempotency_key_mismatch" });
      } else {
        expect(response.status).toBe(409);
        expect(await response.json()).toMatchObject({
          code: "insufficient_stock",
          skus: [{ sku, requested: 1, available: 0 }],
        });
      }
    }
    // Every request was asked about once at least (the routed retries once more), in fewer calls.
    const keysAsked = batches.reduce((sum, size) => sum + size, 0);
    expect(keysAsked).toBeGreaterThanOrEqual(asked.length);
    expect(batches.length).toBeLessThan(asked.length);
    expect(Math.max(...batches)).toBeGreaterThan(1);
  }, 60_000);

  it("answers each waiting refusal 503 with Retry-After when the batch call throws, never a refusal", async () => {
    const sku = await stockedSku(1);
    const key = unique("placed");
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_placed");
    const answer = await soldOutTo(key, body, sku);

    let calls = 0;
    const broken = ordersWith(async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error("simulated shard outage");
    });
    const bindings = { ...ONE_SHARD, ORDERS: broken };
    const asked = [
      { key, body },
      ...Array.from({ length: 20 }, (_, i) => ({
        key: unique(`late-${i}`),
        body: checkoutBody([{ sku, quantity: 1 }]),
      })),
      { key, body },
    ];
    const responses = await Promise.all(
      asked.map((request) => postCheckout(request.body, request.key, {}, bindings)),
    );
    for (const response of responses) {
      expect(response.status).toBe(503);
      expect(response.headers.get("Retry-After")).toBe("1");
      expect(await response.json()).toMatchObject({ code: "service_unavailable" });
    }
    expect(calls).toBeLessThan(asked.length);

    // The line is free again: with the shard back, the placed order's retry gets its 202.
    const retry = await postCheckout(body, key, {}, ONE_SHARD);
    expect(retry.status).toBe(202);
    expect(await retry.text()).toBe(answer);
    const refused = await postCheckout(checkoutBody([{ sku, quantity: 1 }]), unique("late"), {}, ONE_SHARD);
    expect(refused.status).toBe(409);
  }, 60_000);
});
