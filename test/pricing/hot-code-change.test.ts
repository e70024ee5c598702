import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { codeUseLine, codeUsesName } from "../../src/inventory/allowances";
import { pushCodeCap, readCodeUses } from "../../src/inventory/code-uses";
import { SkuInventory } from "../../src/inventory/inventory.do";
import { CapChanging, everyBucket, holdCart } from "../../src/inventory/inventory.holds";
import { bucketName, bucketObject } from "../../src/inventory/inventory.service";
import { completeCapChanges } from "../../src/pricing/discounts.storage";
import { admin, breakMethod, checkoutBody, objectDown, postCheckout, stockedSku, unique } from "../helpers";

/**
 * A hot code while its cap is being changed (inventory/code-uses.ts): a buyer is never told the code
 * is used up because a change is under way (503 to retry, nothing remembered), whatever version of
 * the code the checkout carries and wherever the change stands.
 */
type Body = {
  code: string;
  updatedAt: string;
  capPending?: boolean;
  uses: { held: number; used: number; left: number | null };
};

const newCode = (prefix: string) =>
  unique(prefix)
    .replaceAll(/[^A-Za-z0-9-]/g, "")
    .slice(0, 40)
    .toUpperCase();
const create = (body: Record<string, unknown>) => admin("POST", "/v1/admin/discounts", body);
const read = async (code: string) =>
  (await (await admin("GET", `/v1/admin/discounts/${code}`)).json()) as Body;

async function take(code: string, cap: number, version: number, fresh = false, orderId = unique("order")) {
  const line = await codeUseLine(code, cap, version, { buckets: 4, fresh });
  return { orderId, result: await holdCart(env, orderId, [line], Date.now() + 600_000) };
}

/** Freezes every bucket under `version`, as a change's first round does, and stops there. */
async function freezeAll(code: string, version: number) {
  const name = await codeUsesName(code);
  for (const bucket of everyBucket(4)) {
    const answer = await bucketObject(env, name, bucket).setShare(
      bucketName(name, bucket),
      0,
      version,
      false,
    );
    expect(answer.ok).toBe(true);
  }
}

describe("a hot code's cap being changed", () => {
  it("answers a checkout meeting frozen buckets unavailable (not used up), and remembers nothing", async () => {
    const code = newCode("frozen");
    expect((await create({ code, kind: "percentage", value: 10, maxUses: 8, buckets: 4 })).status).toBe(201);
    const v0 = Date.parse((await read(code)).updatedAt);
    expect((await take(code, 8, v0, true)).result.ok).toBe(true);
    await freezeAll(code, v0 + 10);
    // Between the rounds: a checkout carrying the old version, and one carrying the new, both meet
    // frozen buckets. Neither is refused as over the cap.
    for (const version of [v0, v0 + 10]) {
      const { orderId, result } = await take(code, 8, version, version === v0);
      expect(result.ok).toBe(false);
      expect(!result.ok && "unavailable" in result && result.cause).toBeInstanceOf(CapChanging);
      expect(!result.ok && "overAllowance" in result).toBe(false);
      if (version !== v0) {
        // The change opens: the same order id, retried, is given a use (no refusal was remembered).
        expect(await pushCodeCap(env, code, 8, 4, v0 + 10)).toBe("done");
        const again = await take(code, 8, version, false, orderId);
        expect(again.result.ok).toBe(true);
      }
    }
    // A checkout still carrying the old version, at buckets the change opened: served by the new shares.
    expect((await take(code, 8, v0, true)).result.ok).toBe(true);
    expect(await readCodeUses(env, code, 4)).toMatchObject({ held: 3, used: 0 });
  });

  it("answers checkout 503 with Retry-After, never 409, while a change is half-done, and a retry of the key succeeds once it is through", async () => {
    const code = newCode("halfdone");
    expect((await create({ code, kind: "percentage", value: 10, maxUses: 8, buckets: 4 })).status).toBe(201);
    const sku = await stockedSku(20);
    const name = await codeUsesName(code);
    const buy = (key: string) =>
      postCheckout(
        {
          ...checkoutBody([{ sku, quantity: 1 }], "tok_ok", { discountCode: code }),
          customer: { email: `${unique("halfdone")}@example.com` },
        },
        key,
      );
    expect((await buy(unique("key"))).status).toBe(202);
    // The freeze round fails at one bucket: the others are frozen, that one stays on the old version.
    const restore = objectDown(bucketName(name, 2), ["setShare"]);
    let failed: Response;
    try {
      failed = await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 12 });
    } finally {
      restore();
    }
    expect(failed.status).toBe(503);
    const key = unique("key");
    const refused = await buy(key);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("Retry-After")).toBe("1");
    const problem = (await refused.json()) as { code: string; detail: string };
    expect(problem.code).toBe("service_unavailable");
    expect(problem.detail).toMatch(/cap is being changed/);
    // The change made again: the same key now places its order (the 503 was not kept under it).
    expect((await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 12 })).status).toBe(200);
    expect((await buy(key)).status).toBe(202);
    expect((await read(code)).uses).toMatchObject({ held: 2, left: 10 });
  }, 60_000);

  it("shows a half-done change as capPending, and the scheduled job completes it under a new version", async () => {
    const code = newCode("repair");
    expect((await create({ code, kind: "percentage", value: 10, maxUses: 4, buckets: 4 })).status).toBe(201);
    const v0 = Date.parse((await read(code)).updatedAt);
    expect((await take(code, 4, v0, true)).result.ok).toBe(true);
    const name = await codeUsesName(code);
    const restore = objectDown(bucketName(name, 1), ["setShare"]);
    try {
      expect((await admin("PATCH", `/v1/admin/discounts/${code}`, { maxUses: 6 })).status).toBe(503);
    } finally {
      restore();
    }
    const pending = await read(code);
    expect(pending.capPending).toBe(true);
    // Honest: what is left is not known while buckets are frozen or on the old version.
    expect(pending.uses).toEqual({ held: 1, used: 0, left: null });
    const v1 = Date.parse(pending.updatedAt);
    const during = await take(code, 6, v1);
    expect(!during.result.ok && "unavailable" in during.result).toBe(true);
    // A change just made is left to its own request; one pending past the grace period is completed.
    expect(await completeCapChanges(env, new Date())).toBe(0);
    expect(await completeCapChanges(env, new Date(Date.now() + 61_000))).toBeGreaterThanOrEqual(1);
    const repaired = await read(code);
    expect(repaired.capPending).toBeUndefined();
    expect(repaired.uses).toEqual({ held: 1, used: 0, left: 5 });
    const v2 = Date.parse(repaired.updatedAt);
    expect(v2).toBeGreaterThan(v1);
    // Exactly the new cap: 5 more uses, then used up (409, not unavailable).
    const later = [];
    for (let i = 0; i < 6; i++) later.push((await take(code, 6, v2)).result);
    expect(later.filter((result) => result.ok)).toHaveLength(5);
    expect(later.at(-1)).toMatchObject({ ok: false, overAllowance: [expect.anything()] });
    // Checkouts that still carry the half-done version are served by the new shares, never past 6.
    expect((await take(code, 6, v1)).result.ok).toBe(false);
    expect((await readCodeUses(env, code, 4)).held).toBe(6);
    // Nothing pending is left for the next run.
    expect((await read(code)).capPending).toBeUndefined();
  }, 60_000);

  it("refuses a one-object limit on a split bucket (a worker that does not know buckets), never raising it", async () => {
    const code = newCode("rollback");
    expect((await create({ code, kind: "percentage", value: 10, maxUses: 8, buckets: 4 })).status).toBe(201);
    const v0 = Date.parse((await read(code)).updatedAt);
    expect((await take(code, 8, v0, true)).result.ok).toBe(true);
    const name = await codeUsesName(code);
    // Bucket 0 bears the code's one-object name: an older worker would reserve within the whole cap.
    const first = bucketObject(env, name, 0);
    const args = { orderId: unique("order"), quantity: 1, expiresAtMs: Date.now() + 60_000 };
    for (const bucket of everyBucket(4)) {
      const object = bucketObject(env, name, bucket);
      // A bucket the walk stocked, or a change marked, alike.
      await object.reserveShare(
        { ...args, orderId: unique("stock") },
        { name: bucketName(name, bucket), bucket, of: 4, cap: 8, version: v0, fresh: true },
      );
    }
    const before = await readCodeUses(env, code, 4);
    // Caught where the call is made (an RPC's rejection awaited by an assertion is also reported unhandled).
    const refusal = async (call: () => Promise<unknown>) => {
      try {
        await call();
        return null;
      } catch (error) {
        return String(error);
      }
    };
    expect(await refusal(() => first.reserveWithin(args, name, 8, v0 + 1))).toMatch(/split cap/);
    expect(await refusal(() => first.setWithin(name, 8, v0 + 1))).toMatch(/split cap/);
    // In a batch it fails that hold alone, as unavailable.
    const [batched] = await first.reserveMany([{ args, within: { name, allowance: 8, version: v0 + 1 } }]);
    expect(batched).toMatchObject({ ok: false, error: "unavailable" });
    expect(await readCodeUses(env, code, 4)).toEqual(before);
    // The split cap is untouched: exactly 8 uses in all.
    let given = before.held;
    for (let i = 0; i < 10; i++) if ((await take(code, 8, v0, true)).result.ok) given++;
    expect(given).toBe(8);
  }, 60_000);

  it("reads uses with a bucket down as 503 for one code and null in a list, and bounds a list page's counter calls", async () => {
    const prefix = newCode("LISTZ").slice(0, 20);
    const codes = Array.from({ length: 14 }, (_, i) => `${prefix}-${String(i).padStart(2, "0")}`);
    for (const code of codes) {
      expect((await create({ code, kind: "percentage", value: 10, maxUses: 32, buckets: 16 })).status).toBe(
        201,
      );
    }
    const [down] = codes as [string];
    const name = await codeUsesName(down);
    const restore = objectDown(bucketName(name, 5), ["counts"]);
    try {
      const one = await admin("GET", `/v1/admin/discounts/${down}`);
      expect(one.status).toBe(503);
      expect(one.headers.get("Retry-After")).toBe("1");
      expect(((await one.json()) as { code: string }).code).toBe("service_unavailable");
      // A page of 16-bucket codes stops at 12 (192 counter calls), and goes on from there.
      const first = (await (await admin("GET", `/v1/admin/discounts?limit=20&cursor=${prefix}`)).json()) as {
        items: Body[];
        nextCursor: string | null;
      };
      expect(first.items.map((item) => item.code)).toEqual(codes.slice(0, 12));
      expect(first.nextCursor).toBe(codes[11]);
      expect(first.items[0]?.uses).toBeNull();
      expect(first.items[1]?.uses).toEqual({ held: 0, used: 0, left: 32 });
      const second = (await (
        await admin("GET", `/v1/admin/discounts?limit=20&cursor=${first.nextCursor}`)
      ).json()) as { items: Body[] };
      expect(second.items.map((item) => item.code).slice(0, 2)).toEqual(codes.slice(12));
    } finally {
      restore();
    }
    expect((await read(down)).uses).toEqual({ held: 0, used: 0, left: 32 });
  }, 120_000);

  it("holds the caps when two changes interleave: A freezes, B freezes half, A opens the rest, B completes", async () => {
    const code = newCode("interleave");
    const name = await codeUsesName(code);
    for (let i = 0; i < 10; i++) expect((await take(code, 20, 1, true)).result.ok).toBe(true);
    // Gates: A's (version 2) open round, and B's (version 3) freeze at buckets 2 and 3.
    const gate = () => {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      return { promise, open, arrived: 0 };
    };
    const aOpen = gate();
    const bFreeze = gate();
    const original = SkuInventory.prototype.setShare;
    const restore = breakMethod(
      SkuInventory.prototype,
      "setShare",
      async function (this: SkuInventory, ...args: unknown[]) {
        const [bucketOf, , version, opening] = args as [string, number, number, boolean];
        const late = [bucketName(name, 2), bucketName(name, 3)].includes(bucketOf);
        if (version === 2 && opening) {
          aOpen.arrived++;
          await aOpen.promise;
        } else if (version === 3 && !opening && late) {
          bFreeze.arrived++;
          await bFreeze.promise;
        }
        return original.apply(this, args as Parameters<typeof original>);
      },
    );
    const until = async (check: () => boolean) => {
      for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(check()).toBe(true);
    };
    try {
      const a = pushCodeCap(env, code, 12, 4, 2);
      await until(() => aOpen.arrived === 4);
      const b = pushCodeCap(env, code, 16, 4, 3);
      await until(() => bFreeze.arrived === 2);
      aOpen.open();
      expect(await a).toBe("superseded");
      // Buckets 2 and 3 are open at A's shares, 0 and 1 frozen by B: A's checkouts stay within 12.
      for (let i = 0; i < 6; i++) await take(code, 12, 2);
      expect((await readCodeUses(env, code, 4)).held).toBeLessThanOrEqual(12);
      bFreeze.open();
      expect(await b).toBe("done");
    } finally {
      aOpen.open();
      bFreeze.open();
      restore();
    }
    // B's shares sum to 16 whatever A did: checkouts fill exactly to it.
    for (let i = 0; i < 10; i++) await take(code, 16, 3);
    expect((await readCodeUses(env, code, 4)).held).toBe(16);
  }, 60_000);
});
