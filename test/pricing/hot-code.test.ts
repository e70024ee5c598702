import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { codeUseLine, codeUsesName } from "../../src/inventory/allowances";
import { pushCodeCap, readCodeUses } from "../../src/inventory/code-uses";
import { everyBucket, holdCart, releaseBuckets, settleOrders } from "../../src/inventory/inventory.holds";
import { bucketName } from "../../src/inventory/inventory.service";
import { admin, checkoutBody, objectDown, postCheckout, stockedSku, unique } from "../helpers";

/**
 * A hot code's total cap split over buckets (inventory/code-uses.ts): as a buyer sees it (exactly N
 * orders get it, the rest 409 before anything is held), and as the shop changes it while uses are
 * held, with a bucket failing, or two changes racing.
 */
type Uses = { held: number; used: number; left: number | null };
type Body = { code: string; uses: Uses; buckets?: number; updatedAt: string };

const newCode = (prefix: string) =>
  unique(prefix)
    .replaceAll(/[^A-Za-z0-9-]/g, "")
    .slice(0, 40)
    .toUpperCase();
const create = (body: Record<string, unknown>) => admin("POST", "/v1/admin/discounts", body);
const read = async (code: string) =>
  (await (await admin("GET", `/v1/admin/discounts/${code}`)).json()) as Body;

/** Holds one use for a new order, as a checkout carrying this cap and version would. */
async function take(code: string, cap: number, version: number, buckets: number, fresh = false) {
  const orderId = unique("order");
  const line = await codeUseLine(code, cap, version, { buckets, fresh });
  const result = await holdCart(env, orderId, [line], Date.now() + 600_000);
  return { orderId, result };
}

describe("a hot code", () => {
  it("splits a large cap over 4 buckets by default, or as asked, and refuses buckets it cannot fill", async () => {
    const big = newCode("big");
    expect((await create({ code: big, kind: "percentage", value: 10, maxUses: 100 })).status).toBe(201);
    expect(await read(big)).toMatchObject({ buckets: 4, uses: { held: 0, used: 0, left: 100 } });
    const small = newCode("small");
    expect((await create({ code: small, kind: "percentage", value: 10, maxUses: 10 })).status).toBe(201);
    expect((await read(small)).buckets).toBe(1);
    const asked = newCode("asked");
    expect(
      (await create({ code: asked, kind: "percentage", value: 10, maxUses: 10, buckets: 3 })).status,
    ).toBe(201);
    expect((await read(asked)).buckets).toBe(3);
    for (const bad of [{ maxUses: 2, buckets: 3 }, { buckets: 2 }, { maxUses: 50, buckets: 17 }]) {
      const response = await create({ code: newCode("bad"), kind: "percentage", value: 10, ...bad });
      expect(response.status, JSON.stringify(bad)).toBe(400);
    }
  });

  it("gives exactly its cap to racing buyers, and refuses the rest 409 before anything is held", async () => {
    const code = newCode("race");
    expect((await create({ code, kind: "percentage", value: 10, maxUses: 6, buckets: 3 })).status).toBe(201);
    const sku = await stockedSku(50);
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        postCheckout({
          ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
          customer: { email: `hot-${i}-${unique("e")}@example.com` },
        }),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([202, 202, 202, 202, 202, 202, 409, 409, 409, 409]);
    for (const response of responses.filter((candidate) => candidate.status === 409)) {
      expect(((await response.json()) as { code: string }).code).toBe("discount_exhausted");
    }
    const { uses } = await read(code);
    expect(uses.held + uses.used).toBe(6);
    expect(uses.left).toBe(0);
  }, 120_000);

  it("lowered below what its buckets hold gives nothing more, and a change made again hands out what came back", async () => {
    const code = newCode("lower");
    expect((await create({ code, kind: "percentage", value: 10, maxUses: 8, buckets: 4 })).status).toBe(201);
    const made = await read(code);
    const v0 = Date.parse(made.updatedAt);
    const held = [];
    for (let i = 0; i < 6; i++) {
      const { orderId, result } = await take(code, 8, v0, 4, true);
      expect(result.ok).toBe(true);
      if (result.ok) held.push({ orderId, holds: result.holds });
    }
    expect((await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 5 })).status).toBe(200);
    const lowered = await read(code);
    expect(lowered.uses).toEqual({ held: 6, used: 0, left: 0 });
    const v1 = Date.parse(lowered.updatedAt);
    // Neither a checkout with the new cap nor one that still has the old one gets a use.
    expect((await take(code, 5, v1, 4)).result.ok).toBe(false);
    expect((await take(code, 8, v0, 4, true)).result.ok).toBe(false);
    // Three orders fail: 3 held, cap 5. Their uses came back to their buckets, which may give them
    // again only while the code is under its cap whatever the others hold: never past it.
    await settleOrders(env, held.splice(0, 3), "released");
    let given = 0;
    for (let i = 0; i < 4; i++) if ((await take(code, 5, v1, 4)).result.ok) given++;
    expect(3 + given).toBeLessThanOrEqual(5);
    // The same cap again redistributes: exactly up to 5.
    expect((await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 5 })).status).toBe(200);
    const again = await read(code);
    const v2 = Date.parse(again.updatedAt);
    for (let i = 0; i < 4; i++) if ((await take(code, 5, v2, 4)).result.ok) given++;
    expect(3 + given).toBe(5);
    expect((await read(code)).uses).toEqual({ held: 5, used: 0, left: 0 });
  }, 60_000);

  it("answers 503 when a bucket cannot be told a change, gives no more meanwhile, and a repeat completes it", async () => {
    const code = newCode("down");
    expect((await create({ code, kind: "percentage", value: 10, maxUses: 4, buckets: 4 })).status).toBe(201);
    const v0 = Date.parse((await read(code)).updatedAt);
    for (let i = 0; i < 2; i++) expect((await take(code, 4, v0, 4, true)).result.ok).toBe(true);
    const name = await codeUsesName(code);
    const restore = objectDown(bucketName(name, 2), ["setShare"]);
    let failed: Response;
    try {
      failed = await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 3 });
    } finally {
      restore();
    }
    expect(failed.status).toBe(503);
    expect(failed.headers.get("Retry-After")).toBe("1");
    const saved = await read(code);
    const v1 = Date.parse(saved.updatedAt);
    // Half-done: a checkout with the new cap gets at most what the new cap leaves (here: nothing
    // from a bucket the change froze, nothing from one it did not reach).
    let given = 0;
    for (let i = 0; i < 4; i++) if ((await take(code, 3, v1, 4)).result.ok) given++;
    expect(2 + given).toBeLessThanOrEqual(3);
    expect((await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 3 })).status).toBe(200);
    const v2 = Date.parse((await read(code)).updatedAt);
    for (let i = 0; i < 4; i++) if ((await take(code, 3, v2, 4)).result.ok) given++;
    expect(2 + given).toBe(3);
    expect((await read(code)).uses).toEqual({ held: 3, used: 0, left: 0 });
  }, 60_000);

  it("fails a checkout whose walk meets a bucket that throws, leaving nothing held", async () => {
    const code = newCode("walk");
    const name = await codeUsesName(code);
    // Every bucket but one refuses (no cap reached them), so each walk goes through all four.
    const line = await codeUseLine(code, 4, 5, { buckets: 4, fresh: false });
    const restore = objectDown(bucketName(name, 1), ["reserveShare"]);
    let result: Awaited<ReturnType<typeof holdCart>>;
    const orderId = unique("order");
    try {
      result = await holdCart(env, orderId, [line], Date.now() + 60_000);
    } finally {
      restore();
    }
    expect(result.ok).toBe(false);
    expect("unavailable" in result && result.unavailable).toBe(true);
    expect(await releaseBuckets(env, orderId, [{ sku: name, buckets: everyBucket(4) }], true)).toBe(true);
    expect(await readCodeUses(env, code, 4)).toMatchObject({ held: 0, used: 0 });
  });

  it("ends with the newer of two changes racing each other and checkouts, never past either cap", async () => {
    const code = newCode("twice");
    const buckets = 4;
    const first = await Promise.all(Array.from({ length: 10 }, () => take(code, 20, 1, buckets, true)));
    expect(first.every(({ result }) => result.ok)).toBe(true);
    // Two changes (to 12, then to 16) and a stream of checkouts carrying either, all at once.
    const [older, newer] = await Promise.all([
      pushCodeCap(env, code, 12, buckets, 2),
      pushCodeCap(env, code, 16, buckets, 3),
      ...Array.from({ length: 12 }, (_, i) =>
        take(code, i % 2 ? 12 : 16, i % 2 ? 2 : 3, buckets).then(() => "done" as const),
      ),
    ]);
    expect(newer).toBe("done");
    expect(["done", "superseded"]).toContain(older);
    // Racing checkouts got uses only from buckets a change had reached: never past 12 before the
    // newer change froze them, never past 16 after.
    expect((await readCodeUses(env, code, buckets)).held).toBeLessThanOrEqual(16);
    // Whatever the interleaving, the newer change's shares stand: checkouts now fill exactly to 16.
    for (let i = 0; i < 10; i++) await take(code, 16, 3, buckets);
    expect((await readCodeUses(env, code, buckets)).held).toBe(16);
  }, 60_000);
});
