import { describe, expect, it } from "vitest";
import { TURNSTILE_TEST_SECRET } from "./fakes/turnstile.mjs";
import { admin, call, createProduct, JSON_HEADERS, unique } from "./helpers";

/** A drop with a waiting room that opens in an hour. */
async function drop() {
  const product = await createProduct({
    saleStartsAt: new Date(Date.now() + 3_600_000).toISOString(),
    waitingRoom: { admitPerMinute: 600 },
  });
  const sku = product.variants[0]?.sku ?? "";
  expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 10 })).status).toBe(200);
  return product;
}

/** A limiter like the binding (`limit` joins per key), recording the keys it was asked about. */
function recordingLimiter(limit: number) {
  const asked = new Map<string, number>();
  const binding = {
    limit: async ({ key }: { key: string }) => {
      asked.set(key, (asked.get(key) ?? 0) + 1);
      return { success: (asked.get(key) ?? 0) <= limit };
    },
  } as unknown as RateLimit;
  return { binding, asked };
}

const joinWith = (productId: string, body: Record<string, unknown>, headers = {}, bindings = {}) =>
  call(
    `/v1/drops/${productId}/tickets`,
    { method: "POST", headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) },
    bindings,
  );

describe("joining a waiting room", () => {
  it("limits joins per client, ten addresses of one IPv6 /64 counting as one", async () => {
    const product = await drop();
    const limiter = recordingLimiter(20);
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const response = await joinWith(
        product.id,
        { email: `${unique("invented")}@example.com` },
        { "CF-Connecting-IP": `2001:db8:77:1:${(i % 10).toString(16)}::1` },
        { JOIN_LIMITER: limiter.binding },
      );
      statuses.push(response.status);
      if (response.status === 429) {
        expect(response.headers.get("Retry-After")).toBe("60");
        expect(await response.json()).toMatchObject({ code: "rate_limited" });
      }
    }
    expect(statuses.filter((s) => s === 201)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    expect([...limiter.asked.keys()]).toEqual(["2001:db8:77:1::/64"]);
  });

  it("does not count a client on this machine, as local development and load tests are", async () => {
    const product = await drop();
    const refusing = { limit: async () => ({ success: false }) } as unknown as RateLimit;
    for (const address of ["127.0.0.1", "::1"]) {
      const response = await joinWith(
        product.id,
        { email: `${unique("local")}@example.com` },
        { "CF-Connecting-IP": address },
        { JOIN_LIMITER: refusing },
      );
      expect(response.status, address).toBe(201);
    }
  });

  it("refuses joins when no bot check is configured, unless the shop allows it, without naming its settings", async () => {
    const product = await drop();
    const refused = await joinWith(
      product.id,
      { email: "a@example.com" },
      {},
      { TURNSTILE_SECRET: "", ALLOW_UNCHECKED_JOINS: "false" },
    );
    expect(refused.status).toBe(503);
    expect(refused.headers.get("Retry-After")).toBeTruthy();
    const text = await refused.text();
    expect(JSON.parse(text)).toMatchObject({ code: "waiting_room_not_configured" });
    expect(text).not.toMatch(/TURNSTILE|ALLOW_|secret/i);
    const allowed = await joinWith(
      product.id,
      { email: "a@example.com" },
      {},
      { TURNSTILE_SECRET: "", ALLOW_UNCHECKED_JOINS: "true" },
    );
    expect(allowed.status).toBe(201);
  });

  it("takes a Turnstile token only when it was made on this shop's host for joining", async () => {
    const product = await drop();
    const guarded = { TURNSTILE_SECRET: TURNSTILE_TEST_SECRET };
    for (const token of [unique("pass-elsewhere"), unique("pass-login")]) {
      const response = await joinWith(
        product.id,
        { email: "b@example.com", turnstileToken: token },
        {},
        guarded,
      );
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ code: "turnstile_failed" });
    }
    const good = await joinWith(
      product.id,
      { email: "b@example.com", turnstileToken: unique("pass") },
      {},
      guarded,
    );
    expect(good.status).toBe(201);
  });
});
