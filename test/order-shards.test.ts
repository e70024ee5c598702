import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { keyHashOf } from "../src/orders/intake/idempotency";
import { shardsOfKey } from "../src/orders/shards";
import { sha256Hex } from "../src/shared/crypto";
import { call, checkoutBody, JSON_HEADERS, postCheckout, stockedSku, unique } from "./helpers";

const SHARDS = 16;
/** The shard a key had when it was a public function of the key: what an attacker can compute. */
const publicShard = async (key: string) =>
  Number.parseInt((await sha256Hex(`idempotency-key:${key}`)).slice(0, 8), 16) % SHARDS;

/** The ORDERS binding, recording which shard objects were asked for. */
function recordingShards() {
  const names: string[] = [];
  const binding = new Proxy(env.ORDERS, {
    get(object, property) {
      const value = Reflect.get(object, property);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (property === "getByName") names.push(String(args[0]));
        return value.apply(object, args);
      };
    },
  });
  return { binding, names };
}

const refusingLimiter = { limit: async () => ({ success: false }) } as unknown as RateLimit;

describe("choosing a key's order shard", () => {
  it("hashes and picks shards exactly as WebCrypto did, so no placed key moves", async () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    const hexOf = (buffer: ArrayBuffer) =>
      [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
    for (const key of ["a", unique("same"), "ünïcødé-kéy", "x".repeat(255)]) {
      const keyHash = await keyHashOf(key);
      expect(keyHash).toBe(hexOf(await crypto.subtle.digest("SHA-256", bytes(`idempotency-key:${key}`))));
      const secret = "shard-secret-ä";
      const hmac = await crypto.subtle.importKey(
        "raw",
        bytes(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const mac = await crypto.subtle.sign("HMAC", hmac, bytes(`order-shard:${keyHash}`));
      const { shard } = await shardsOfKey(
        { ...env, ORDER_SHARD_SECRET: secret, ORDER_SHARDS: "1000" },
        keyHash,
      );
      expect(shard).toBe(new DataView(mac).getUint32(0) % 1000);
    }
  });

  it("spreads keys aimed at one shard over all of them: the choice is keyed by a secret", async () => {
    const aimed: string[] = [];
    while (aimed.length < 48) {
      const key = unique("aim");
      if ((await publicShard(key)) === 0) aimed.push(key);
    }
    const shards = recordingShards();
    for (const key of aimed) {
      const response = await call(
        "/v1/checkout",
        {
          method: "POST",
          headers: { ...JSON_HEADERS, "Idempotency-Key": key, "CF-Connecting-IP": "192.0.2.44" },
          body: JSON.stringify(checkoutBody([{ sku: "ANY-SKU", quantity: 1 }])),
        },
        { ORDERS: shards.binding, CHECKOUT_LIMITER: refusingLimiter, ORDER_SHARDS: String(SHARDS) },
      );
      expect(response.status).toBe(429);
    }
    // Each refusal asked its key's shard once (so a placed order's retry keeps its 202) ...
    expect(shards.names).toHaveLength(aimed.length);
    // ... and the keys aimed at shard 0 landed on many shards, none of them on most.
    const perShard = Map.groupBy(shards.names, (name) => name);
    expect(perShard.size).toBeGreaterThanOrEqual(8);
    expect(Math.max(...[...perShard.values()].map((names) => names.length))).toBeLessThan(aimed.length / 3);
  });

  it("replays a placed order's retry while the secret changes, from a secret or from none", async () => {
    const sku = await stockedSku(20);
    for (const before of ["old-shard-secret", ""]) {
      const body = checkoutBody([{ sku, quantity: 1 }]);
      // A key whose shard differs under the two secrets, so the retry has to find the earlier one.
      let key = unique("rotate");
      const differs = async (k: string) => {
        const hash = await keyHashOf(k);
        const under = (secret: string) =>
          shardsOfKey({ ...env, ORDER_SHARD_SECRET: secret, ORDER_SHARD_SECRET_PREVIOUS: "" }, hash);
        return (await under(before)).shard !== (await under("new-shard-secret")).shard;
      };
      while (!(await differs(key))) key = unique("rotate");
      const first = await postCheckout(
        body,
        key,
        {},
        { ORDER_SHARD_SECRET: before, ORDER_SHARD_SECRET_PREVIOUS: "" },
      );
      expect(first.status).toBe(202);
      const placed = await first.json<{ orderId: string; orderToken: string }>();
      const rotating = {
        ORDER_SHARD_SECRET: "new-shard-secret",
        ORDER_SHARD_SECRET_PREVIOUS: before || "unkeyed",
      };
      const retry = await postCheckout(body, key, {}, rotating);
      expect(retry.status).toBe(202);
      expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
      expect((await retry.json<{ orderId: string }>()).orderId).toBe(placed.orderId);
      // A different body under the same key is still the key's mismatch, not a new order.
      const other = await postCheckout(checkoutBody([{ sku, quantity: 2 }]), key, {}, rotating);
      expect(other.status).toBe(422);
      // The order id names the shard it lives on, so reads need no secret at all.
      const read = await call(`/v1/orders/${placed.orderId}`, {
        headers: { Authorization: `Bearer ${placed.orderToken}` },
      });
      expect(read.status).toBe(200);
    }
  });
});
