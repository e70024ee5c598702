import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SkuInventory } from "../src/inventory/inventory.do";
import { holdCarts } from "../src/inventory/inventory.holds";
import { keyHashOf } from "../src/orders/intake/idempotency";
import type { IntakeAnswer, IntakeInput } from "../src/orders/protocol";
import { reconcile } from "../src/orders/reconcile";
import type { OrderShard } from "../src/orders/shard/order-shard.do";
import { ShardStore } from "../src/orders/shard/orders.store";
import { orderShard, shardsOfKey } from "../src/orders/shards";
import {
  breakMethod,
  checkoutBody,
  claimOf,
  objectDown,
  postCheckout,
  settleShards,
  shardRow,
  silenceQueue,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

/** Generous: these tests fire many checkouts at once on a busy two-core machine. */
const TIMEOUT_MS = 60_000;

/** `count` fresh keys that all hash to one order shard, with that shard's number. */
async function keysOnOneShard(count: number): Promise<{ shard: number; keys: string[] }> {
  const byShard = new Map<number, string[]>();
  for (;;) {
    const key = unique("batched");
    const { shard } = await shardsOfKey(env, await keyHashOf(key));
    const keys = [...(byShard.get(shard) ?? []), key];
    if (keys.length === count) return { shard, keys };
    byShard.set(shard, keys);
  }
}

/** The intake input the edge would send for `lines` under `key` (one unit price for every line). */
async function intakeFor(
  key: string,
  shard: number,
  lines: { sku: string; quantity: number; buckets?: number }[],
): Promise<IntakeInput> {
  const keyHash = await keyHashOf(key);
  return {
    key,
    keyHash,
    fingerprint: keyHash,
    shard,
    requestId: unique("request"),
    lines: lines.map(({ sku, quantity, buckets = 1 }) => ({ sku, quantity, buckets })),
    items: lines.map(({ sku, quantity }) => ({
      sku,
      productId: "prod",
      title: sku,
      quantity,
      unitPrice: { amount: 100, currency: "USD" },
    })),
    total: { amount: 100 * lines.reduce((sum, line) => sum + line.quantity, 0), currency: "USD" },
    customer: { email: "batch@example.com" },
    paymentToken: "tok_ok",
  };
}

/**
 * Sends every input to the shard's intake in one turn, as checkouts that arrive together: the first
 * goes alone, at once; the others wait for it (or until it is overtaken) and go as one batch.
 */
function checkoutTogether(shard: number, inputs: IntakeInput[]): Promise<IntakeAnswer[]> {
  return runInDurableObject(orderShard(env, shard), (instance: OrderShard) =>
    Promise.all(inputs.map((input) => instance.checkout(input))),
  );
}

/** Counts the batched reserves inventory objects take, passing every call through. */
function countBatches() {
  const original = SkuInventory.prototype.reserveMany;
  const sizes: number[] = [];
  const restore = breakMethod(
    SkuInventory.prototype,
    "reserveMany",
    function (this: SkuInventory, ...args: unknown[]) {
      sizes.push((args[0] as unknown[]).length);
      return original.apply(this, args as Parameters<typeof original>);
    },
  );
  return { sizes, restore };
}

describe("group commit in the key's shard", () => {
  it(
    "takes checkouts that wait as one batch, one bucket call for all, and answers each on its own",
    async () => {
      const restoreQueue = silenceQueue();
      const batches = countBatches();
      try {
        const sku = await stockedSku(5);
        const { shard, keys } = await keysOnOneShard(8);
        const inputs = await Promise.all(keys.map((key) => intakeFor(key, shard, [{ sku, quantity: 1 }])));
        const answers = await checkoutTogether(shard, inputs);
        // One went alone; the seven that waited went together, in one call to the SKU's object.
        expect(batches.sizes).toEqual([7]);
        expect(answers.filter((a) => a.kind === "accepted")).toHaveLength(5);
        const refused = answers.filter((a) => a.kind === "refused");
        expect(refused).toHaveLength(3);
        for (const answer of refused) expect(answer.kind === "refused" && answer.response.status).toBe(409);
        expect(await stockOf(sku)).toMatchObject({ reserved: 5, available: 0 });
        // Every accepted order is recorded with its key's answer; every refusal is kept under its key.
        for (const [i, answer] of answers.entries()) {
          const claim = await claimOf(keys[i] as string);
          expect(claim).toMatchObject({ state: "done" });
          if (answer.kind === "accepted") expect(await shardRow(claim?.order_id ?? "")).not.toBeNull();
        }
        // A retry of each gets the same answer back.
        const again = await checkoutTogether(shard, inputs);
        expect(again.map((a) => a.kind)).toEqual(answers.map(() => "replay"));
      } finally {
        batches.restore();
        restoreQueue();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "answers in_use, never fresh, for a key whose checkout waits for its batch",
    async () => {
      const restoreQueue = silenceQueue();
      try {
        const sku = await stockedSku(5);
        const { shard, keys } = await keysOnOneShard(2);
        const [first, waiting] = await Promise.all(
          keys.map((key) => intakeFor(key, shard, [{ sku, quantity: 1 }])),
        );
        if (!first || !waiting) throw new Error("two inputs expected");
        const { standing, answers } = await runInDurableObject(
          orderShard(env, shard),
          async (instance: OrderShard) => {
            const placed = [instance.checkout(first), instance.checkout(waiting)];
            // The second waits for the first's batch: a refusal asked for its key now must not be given.
            const standing = await instance.refusalStanding(
              waiting.key,
              waiting.keyHash,
              waiting.fingerprint,
            );
            return { standing, answers: await Promise.all(placed) };
          },
        );
        expect(standing).toMatchObject({ kind: "in_use" });
        expect(answers.map((answer) => answer.kind)).toEqual(["accepted", "accepted"]);
      } finally {
        restoreQueue();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "fails only the orders whose lines a throwing bucket carried, and leaks none of their holds",
    async () => {
      const restoreQueue = silenceQueue();
      const [good, bad] = [await stockedSku(20), await stockedSku(20)];
      const { shard, keys } = await keysOnOneShard(7);
      const carts = [
        [{ sku: good, quantity: 1 }],
        // The batch: three on the good SKU, two on the bad one, one on both.
        [{ sku: good, quantity: 1 }],
        [{ sku: good, quantity: 2 }],
        [{ sku: bad, quantity: 1 }],
        [{ sku: good, quantity: 3 }],
        [{ sku: bad, quantity: 1 }],
        [
          { sku: good, quantity: 4 },
          { sku: bad, quantity: 1 },
        ],
      ];
      const inputs = await Promise.all(keys.map((key, i) => intakeFor(key, shard, carts[i] ?? [])));
      const restore = objectDown(bad, ["reserve", "reserveMany"]);
      let answers: IntakeAnswer[];
      try {
        answers = await checkoutTogether(shard, inputs);
      } finally {
        restore();
        restoreQueue();
      }
      expect(answers.map((a) => a.kind)).toEqual([
        "accepted",
        "accepted",
        "accepted",
        "unavailable",
        "accepted",
        "unavailable",
        "unavailable",
      ]);
      await settleShards();
      // The mixed cart's units of the good SKU went back; nothing stays held on the bad one.
      expect(await stockOf(good)).toMatchObject({ reserved: 7 });
      expect(await stockOf(bad)).toMatchObject({ reserved: 0, available: 20 });
      for (const i of [3, 5, 6]) expect(await claimOf(keys[i] as string)).toBeNull();
    },
    TIMEOUT_MS,
  );

  it(
    "gives back what a batch held once its claims lapsed and were given up before it could record",
    async () => {
      const restoreQueue = silenceQueue();
      const sku = await stockedSku(10);
      const { shard, keys } = await keysOnOneShard(4);
      const inputs = await Promise.all(keys.map((key) => intakeFor(key, shard, [{ sku, quantity: 1 }])));
      // The checkout that goes alone holds at once; the batch of the other three waits at the gate.
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      let batchReached!: () => void;
      const reached = new Promise<void>((resolve) => {
        batchReached = resolve;
      });
      const reserveMany = SkuInventory.prototype.reserveMany;
      const restore = breakMethod(
        SkuInventory.prototype,
        "reserveMany",
        async function (this: SkuInventory, ...args: unknown[]) {
          batchReached();
          await gate;
          return reserveMany.apply(this, args as Parameters<typeof reserveMany>);
        },
      );
      try {
        const answers = checkoutTogether(shard, inputs);
        await reached;
        // The batch stopped between its claims and its record for longer than the lock: the shard's
        // upkeep gives its claims up and closes their order ids at the SKU's object.
        await runInDurableObject(orderShard(env, shard), (_, state) => {
          state.storage.sql.exec("UPDATE keys SET locked_until = 1 WHERE state = 'in_flight'");
        });
        await reconcile(env);
        open();
        const [first, ...batch] = await answers;
        expect(first?.kind).toBe("accepted");
        // The batch's holds came too late: refused at the object, nothing recorded, 503 to retry.
        expect(batch.map((a) => a.kind)).toEqual(["unavailable", "unavailable", "unavailable"]);
      } finally {
        restore();
        restoreQueue();
      }
      await settleShards();
      expect(await stockOf(sku)).toMatchObject({ reserved: 1, available: 9 });
      for (const key of keys.slice(1)) expect(await claimOf(key)).toBeNull();
    },
    TIMEOUT_MS,
  );
});

describe("a key's standing while a checkout of it waits for its batch", () => {
  /** Places `key`'s order, then starts a checkout of another key (a batch under way) and one of `waiting`. */
  async function placedThenWaiting(changeBody: boolean) {
    const sku = await stockedSku(10);
    const { shard, keys } = await keysOnOneShard(2);
    const [key, other] = keys as [string, string];
    const placed = await intakeFor(key, shard, [{ sku, quantity: 1 }]);
    const [first] = await checkoutTogether(shard, [placed]);
    expect(first?.kind).toBe("accepted");
    const waiting = changeBody
      ? { ...(await intakeFor(key, shard, [{ sku, quantity: 2 }])), fingerprint: "f".repeat(64) }
      : placed;
    const busy = await intakeFor(other, shard, [{ sku, quantity: 1 }]);
    return runInDurableObject(orderShard(env, shard), async (instance: OrderShard) => {
      const running = instance.checkout(busy);
      const queued = instance.checkout(waiting);
      // An exact retry of the placed order, refused at the edge (rate limited, say).
      const standing = await instance.refusalStanding(key, placed.keyHash, placed.fingerprint);
      const [, late] = await Promise.all([running, queued]);
      return { standing: standing.kind, late: late.kind };
    });
  }

  it(
    "answers a retry of a placed order its 202, though a checkout of its key with another body waits",
    async () => {
      const restoreQueue = silenceQueue();
      try {
        expect(await placedThenWaiting(true)).toEqual({ standing: "replay", late: "mismatch" });
      } finally {
        restoreQueue();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "answers a retry of a placed order its 202, though an identical retry waits",
    async () => {
      const restoreQueue = silenceQueue();
      try {
        expect(await placedThenWaiting(false)).toEqual({ standing: "replay", late: "replay" });
      } finally {
        restoreQueue();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "answers in_use, not mismatch, for a fresh key whose checkout with another body waits",
    async () => {
      const restoreQueue = silenceQueue();
      try {
        const sku = await stockedSku(10);
        const { shard, keys } = await keysOnOneShard(2);
        const [key, other] = keys as [string, string];
        const queued = {
          ...(await intakeFor(key, shard, [{ sku, quantity: 2 }])),
          fingerprint: "f".repeat(64),
        };
        const mine = await intakeFor(key, shard, [{ sku, quantity: 1 }]);
        const busy = await intakeFor(other, shard, [{ sku, quantity: 1 }]);
        const standing = await runInDurableObject(orderShard(env, shard), async (instance: OrderShard) => {
          const running = instance.checkout(busy);
          const waiting = instance.checkout(queued);
          const answer = await instance.refusalStanding(key, mine.keyHash, mine.fingerprint);
          await Promise.all([running, waiting]);
          return answer.kind;
        });
        expect(standing).toBe("in_use");
      } finally {
        restoreQueue();
      }
    },
    TIMEOUT_MS,
  );
});

describe("a shard under a stalled inventory object", () => {
  it(
    "lets a checkout of an in-stock SKU go while two batches are stalled in another SKU's object",
    async () => {
      const restoreQueue = silenceQueue();
      const slow = await stockedSku(100);
      const fast = await stockedSku(100);
      const { shard, keys } = await keysOnOneShard(3);
      const [a, b, c] = await Promise.all([
        intakeFor(keys[0] as string, shard, [{ sku: slow, quantity: 7 }]),
        intakeFor(keys[1] as string, shard, [{ sku: slow, quantity: 7 }]),
        intakeFor(keys[2] as string, shard, [{ sku: fast, quantity: 1 }]),
      ]);
      let open = () => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const reserve = SkuInventory.prototype.reserve;
      const restore = breakMethod(
        SkuInventory.prototype,
        "reserve",
        async function (this: SkuInventory, ...args) {
          if ((args[0] as { quantity: number }).quantity === 7) await gate;
          return reserve.apply(this, args as Parameters<typeof reserve>);
        },
      );
      try {
        const result = await runInDurableObject(orderShard(env, shard), async (instance: OrderShard) => {
          const first = instance.checkout(a); // a batch of its own, which stalls
          const second = instance.checkout(b); // the next batch, after OVERTAKE_MS: stalls too
          await new Promise((resolve) => setTimeout(resolve, 300));
          const started = Date.now();
          const unrelated = instance
            .checkout(c)
            .then((answer) => ({ kind: answer.kind, after: Date.now() - started }));
          const opening = setTimeout(open, 3000);
          const answer = await unrelated;
          clearTimeout(opening);
          open();
          const stalled = await Promise.all([first, second]);
          return { answer, stalled: stalled.map((one) => one.kind) };
        });
        expect(result.answer.kind).toBe("accepted");
        expect(result.answer.after).toBeLessThan(1000);
        expect(result.stalled).toEqual(["accepted", "accepted"]);
      } finally {
        restore();
        restoreQueue();
      }
    },
    TIMEOUT_MS,
  );

  it(
    "answers unavailable at once, with nothing claimed, beyond the checkouts a shard lets wait",
    async () => {
      const restoreQueue = silenceQueue();
      try {
        const sku = await stockedSku(10);
        const { shard, keys } = await keysOnOneShard(2);
        const [key, extra] = keys as [string, string];
        const input = await intakeFor(key, shard, [{ sku, quantity: 1 }]);
        const beyond = await intakeFor(extra, shard, [{ sku, quantity: 1 }]);
        // One goes at once; 600 of the same key wait (and get its answer back, cheaply); one more
        // is beyond what may wait.
        const answers = await checkoutTogether(shard, [...Array.from({ length: 601 }, () => input), beyond]);
        expect(answers[0]?.kind).toBe("accepted");
        expect(new Set(answers.slice(1, 601).map((answer) => answer.kind))).toEqual(new Set(["replay"]));
        expect(answers[601]?.kind).toBe("unavailable");
        expect(await claimOf(extra)).toBeNull();
        expect(await stockOf(sku)).toMatchObject({ reserved: 1, available: 9 });
      } finally {
        restoreQueue();
      }
    },
    TIMEOUT_MS,
  );
});

describe("a batch of holds at the inventory objects", () => {
  it(
    "walks a split SKU's buckets for every cart at once, all or nothing per cart",
    async () => {
      const split = await stockedSku(12, 4);
      const single = await stockedSku(3);
      const carts = Array.from({ length: 6 }, (_, i) => ({
        orderId: unique(`cart-${i}`),
        lines: [
          { sku: split, quantity: 2, buckets: 4 },
          { sku: single, quantity: i === 5 ? 3 : 1, buckets: 1 },
        ],
        expiresAtMs: Date.now() + 60_000,
      }));
      const answers = await holdCarts(env, carts);
      // Every cart finds its two units of the split SKU, over its buckets; three get their unit of the
      // single SKU, and the rest are short of it and keep nothing, the split SKU's units included.
      const held = answers.filter((answer) => answer.ok);
      expect(held).toHaveLength(3);
      for (const answer of held) {
        expect(answer.ok && answer.holds.map((hold) => [hold.sku, hold.quantity])).toEqual([
          [split, 2],
          [single, 1],
        ]);
      }
      for (const answer of answers.filter((a) => !a.ok)) {
        expect(answer).toMatchObject({ ok: false, leftovers: false });
        expect("short" in answer && answer.short.map((s) => s.sku)).toEqual([single]);
      }
      expect(await stockOf(split)).toMatchObject({ reserved: 6, available: 6 });
      expect(await stockOf(single)).toMatchObject({ reserved: 3, available: 0 });
    },
    TIMEOUT_MS,
  );

  it(
    "answers a hold that fails inside a batch as unavailable, for its order alone",
    async () => {
      const sku = await stockedSku(10);
      const reserve = SkuInventory.prototype.reserve;
      // The order that asks for 3 units meets a fault in its own hold; the batch goes on.
      const restore = breakMethod(SkuInventory.prototype, "reserve", function (this: SkuInventory, ...args) {
        if ((args[0] as { quantity: number }).quantity === 3) throw new Error("a fault in one hold");
        return reserve.apply(this, args as Parameters<typeof reserve>);
      });
      let answers: Awaited<ReturnType<typeof holdCarts>>;
      try {
        answers = await holdCarts(
          env,
          [1, 3, 2].map((quantity, i) => ({
            orderId: unique(`faulty-${i}`),
            lines: [{ sku, quantity, buckets: 1 }],
            expiresAtMs: Date.now() + 60_000,
          })),
        );
      } finally {
        restore();
      }
      expect(answers.map((a) => (a.ok ? "held" : "unavailable" in a ? "unavailable" : "short"))).toEqual([
        "held",
        "unavailable",
        "held",
      ]);
      expect(await stockOf(sku)).toMatchObject({ reserved: 3, available: 7 });
    },
    TIMEOUT_MS,
  );
});

describe("a hold that fails inside a batch of holds", () => {
  it(
    "leaves the object's due holds to expire on the next call, as if it had never been made",
    async () => {
      const name = unique("OBJ");
      const stub = env.INVENTORY.getByName(name);
      await stub.set(name, 10);
      const reserve = SkuInventory.prototype.reserve;
      // The hold for 3 units is made (expiring the overdue one on its way), then meets a fault.
      const restore = breakMethod(SkuInventory.prototype, "reserve", function (this: SkuInventory, ...args) {
        const result = reserve.apply(this, args as Parameters<typeof reserve>);
        if ((args[0] as { quantity: number }).quantity === 3) throw new Error("a fault after the hold");
        return result;
      });
      try {
        const answers = await runInDurableObject(stub, (instance: SkuInventory) => {
          const now = Date.now();
          // Overdue at once; no await until the end, so no alarm expires it meanwhile.
          const overdue = instance.reserve({
            orderId: unique("overdue"),
            quantity: 2,
            expiresAtMs: now - 1000,
          });
          const faulty = instance.reserveMany([
            { args: { orderId: unique("faulty"), quantity: 3, expiresAtMs: now + 60_000 } },
          ]);
          const everything = instance.reserve({
            orderId: unique("all"),
            quantity: 10,
            expiresAtMs: now + 60_000,
          });
          return { overdue: overdue.ok, faulty: faulty.map((one) => one.ok), everything: everything.ok };
        });
        expect(answers).toEqual({ overdue: true, faulty: [false], everything: true });
      } finally {
        restore();
      }
    },
    TIMEOUT_MS,
  );
});

/**
 * Counts, while `work` runs, the shards' transactions (outermost only) and the calls checkout makes
 * to inventory objects (a reserve made inside a batch is not a call of its own).
 */
async function countCosts(work: () => Promise<void>) {
  let depth = 0;
  let shardTransactions = 0;
  let bucketCalls = 0;
  let inBatch = false;
  const transaction = ShardStore.prototype.transaction;
  const reserve = SkuInventory.prototype.reserve;
  const reserveMany = SkuInventory.prototype.reserveMany;
  const restores = [
    breakMethod(ShardStore.prototype, "transaction", function (this: ShardStore, ...args: unknown[]) {
      if (depth === 0) shardTransactions++;
      depth++;
      try {
        return transaction.apply(this, args as Parameters<typeof transaction>);
      } finally {
        depth--;
      }
    }),
    breakMethod(SkuInventory.prototype, "reserve", function (this: SkuInventory, ...args: unknown[]) {
      if (!inBatch) bucketCalls++;
      return reserve.apply(this, args as Parameters<typeof reserve>);
    }),
    breakMethod(SkuInventory.prototype, "reserveMany", function (this: SkuInventory, ...args: unknown[]) {
      bucketCalls++;
      inBatch = true;
      try {
        return reserveMany.apply(this, args as Parameters<typeof reserveMany>);
      } finally {
        inBatch = false;
      }
    }),
  ];
  try {
    await work();
  } finally {
    for (const restore of restores.reverse()) restore();
  }
  return { shardTransactions, bucketCalls };
}

describe("what an order costs, counted", () => {
  it(
    "is two shard transactions and one bucket call alone, and fewer per order under load",
    async () => {
      const restoreQueue = silenceQueue();
      try {
        const sku = await stockedSku(100_000);
        const alone = await countCosts(async () => {
          for (let i = 0; i < 10; i++) {
            expect((await postCheckout(checkoutBody([{ sku, quantity: 1 }]))).status).toBe(202);
          }
        });
        expect(alone).toEqual({ shardTransactions: 20, bucketCalls: 10 });
        // 200 checkouts at once: about 12 a shard, so batches form in every shard.
        const crowd = await countCosts(async () => {
          const answers = await Promise.all(
            Array.from({ length: 200 }, () => postCheckout(checkoutBody([{ sku, quantity: 1 }]))),
          );
          expect(answers.every((answer) => answer.status === 202)).toBe(true);
        });
        expect(crowd.shardTransactions).toBeLessThan(2 * 200);
        expect(crowd.bucketCalls).toBeLessThan(200);
      } finally {
        restoreQueue();
      }
    },
    TIMEOUT_MS,
  );
});
