import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { settings } from "../src/shared/config";
import { ulid } from "../src/shared/ids";
import { call, checkoutBody, counting, JSON_HEADERS, unique } from "./helpers";

const BEARER = { Authorization: "Bearer not-a-token" };

describe("no objects for strangers", () => {
  it("answers an order id whose shard this shop does not have 404, without creating any object", async () => {
    const shards = settings(env).orderShards;
    const orders = counting(env.ORDERS, ["getByName", "get", "idFromName"]);
    for (const shard of [shards, shards + 1, 777, 9999]) {
      const id = `${ulid()}-${shard}`;
      const answers = [
        await call(`/v1/orders/${id}`, { headers: BEARER }, { ORDERS: orders.binding }),
        await call(
          `/v1/orders/${id}/cancel`,
          { method: "POST", headers: BEARER },
          { ORDERS: orders.binding },
        ),
        await call(
          `/v1/orders/${id}/check-payment`,
          { method: "POST", headers: BEARER },
          { ORDERS: orders.binding },
        ),
      ];
      for (const response of answers) {
        expect(response.status).toBe(404);
        expect((await response.json()) as { code: string }).toMatchObject({ code: "order_not_found" });
      }
    }
    expect(orders.calls()).toBe(0);
  });

  it("creates no inventory object, waiting room or order for SKUs and products nobody sells", async () => {
    const inventory = counting(env.INVENTORY, ["getByName", "get", "idFromName"]);
    const rooms = counting(env.ROOMS, ["getByName", "get", "idFromName"]);
    const bindings = { INVENTORY: inventory.binding, ROOMS: rooms.binding };
    const sku = unique("NOBODY").toUpperCase();
    expect((await call(`/v1/inventory/${sku}`, {}, bindings)).status).toBe(404);
    const checkout = await call(
      "/v1/checkout",
      {
        method: "POST",
        headers: { ...JSON_HEADERS, "Idempotency-Key": unique("k"), "CF-Connecting-IP": "192.0.2.91" },
        body: JSON.stringify(checkoutBody([{ sku, quantity: 1 }])),
      },
      bindings,
    );
    expect(checkout.status).toBe(400);
    const product = unique("no-product");
    const join = await call(
      `/v1/drops/${product}/tickets`,
      { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ email: "a@example.com" }) },
      bindings,
    );
    expect(join.status).toBe(404);
    expect((await call(`/v1/drops/${product}/status`, {}, bindings)).status).toBeGreaterThanOrEqual(400);
    expect(inventory.calls() + rooms.calls()).toBe(0);
  });
});
