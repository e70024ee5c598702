import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Scope } from "../src/http/scope";
import worker from "../src/index";
import { SkuInventory } from "../src/inventory/inventory.do";
import {
  type CartLine,
  holdCart,
  planCart,
  rememberShortage,
  type SkuHold,
  settleOrders,
} from "../src/inventory/inventory.holds";
import { finishMoves as finishSkuMoves } from "../src/inventory/inventory.service";
import { keyHashOf } from "../src/orders/intake/idempotency";
import { reconcile } from "../src/orders/reconcile";
import { allShards, orderShard, shardOfOrder, shardsOfKey } from "../src/orders/shards";
import { chargeKey } from "../src/payments/gateway";
import { settings } from "../src/shared/config";

export const ADMIN = { Authorization: `Bearer ${env.ADMIN_TOKEN}` };
export const JSON_HEADERS = { "Content-Type": "application/json" };

/**
 * Calls the worker as the runtime would, then waits for its `waitUntil` work (cache fills) so the next
 * call sees what this one left behind. `bindings` replaces some of the real bindings for one call.
 */
export async function call(path: string, init: RequestInit = {}, bindings: Partial<Env> = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`https://shop.example${path}`, init),
    { ...env, ...bindings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

export async function admin(method: string, path: string, body?: unknown, bindings: Partial<Env> = {}) {
  return call(
    path,
    {
      method,
      headers: { ...ADMIN, ...(body === undefined ? {} : JSON_HEADERS) },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    bindings,
  );
}

let counter = 0;
/** A name no other test uses, so tests never depend on each other's rows or cache entries. */
export function unique(prefix: string) {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export function productInput(overrides: Record<string, unknown> = {}) {
  const slug = unique("p");
  return {
    slug,
    title: `Product ${slug}`,
    description: "A product made for tests",
    category: "tests",
    images: ["https://img.example/a.jpg"],
    variants: [
      {
        sku: `${slug.toUpperCase()}-A`,
        title: "A",
        price: { amount: 1999, currency: "USD" },
        attributes: { size: "M" },
      },
    ],
    ...overrides,
  };
}

export type ProductBody = ReturnType<typeof productInput> & { id: string; updatedAt: string };

export async function createProduct(overrides: Record<string, unknown> = {}): Promise<ProductBody> {
  const response = await admin("POST", "/v1/admin/products", productInput(overrides));
  if (response.status !== 201) throw new Error(`create failed: ${response.status} ${await response.text()}`);
  return response.json();
}

/** A SKU whose variant allows `max` per customer, stocked with `onHand` units (in `buckets`). */
export async function limitedSku(onHand = 10, max = 1, buckets?: number) {
  const base = productInput();
  const product = await createProduct({
    slug: base.slug,
    variants: [
      {
        sku: `${base.slug.toUpperCase()}-A`,
        title: "A",
        price: { amount: 1000, currency: "USD" },
        attributes: {},
        maxPerCustomer: max,
      },
    ],
  });
  const sku = product.variants[0]?.sku ?? "";
  const stock = buckets ? { onHand, buckets } : { onHand };
  const stocked = await admin("PUT", `/v1/admin/inventory/${sku}`, stock);
  if (stocked.status !== 200) throw new Error(`stocking failed: ${stocked.status} ${await stocked.text()}`);
  return sku;
}

type Counted<T> = { binding: T; calls: () => number };

/** Wraps a real binding, counting calls to the named methods; everything still reaches the binding. */
export function counting<T extends object>(target: T, methods: string[]): Counted<T> {
  let calls = 0;
  const binding = new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (methods.includes(String(property))) calls += 1;
        return value.apply(object, args);
      };
    },
  });
  return { binding, calls: () => calls };
}

/** A D1 binding that fails the way an outage does: every query throws. */
export const brokenD1 = new Proxy(env.DB, {
  get(object, property) {
    if (property === "prepare" || property === "batch" || property === "exec") {
      return () => {
        throw new Error("D1_ERROR: simulated outage");
      };
    }
    const value = Reflect.get(object, property);
    return typeof value === "function" ? value.bind(object) : value;
  },
});

/** A service scope like a request's, whose background work a test can wait for. */
export function testScope(bindings: Partial<Env> = {}) {
  const pending: Promise<unknown>[] = [];
  return {
    scope: {
      env: { ...env, ...bindings },
      origin: "https://shop.example",
      waitUntil: (p: Promise<unknown>) => pending.push(p),
    },
    settled: () => Promise.allSettled(pending),
  };
}

/** A catalog product with stock set through the admin API; answers its SKU. */
export async function stockedSku(
  onHand: number,
  buckets?: number,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const product = await createProduct(overrides);
  const sku = product.variants[0]?.sku ?? "";
  const response = await admin(
    "PUT",
    `/v1/admin/inventory/${sku}`,
    buckets ? { onHand, buckets } : { onHand },
  );
  if (response.status !== 200)
    throw new Error(`stocking failed: ${response.status} ${await response.text()}`);
  return sku;
}

export type Accepted = {
  orderId: string;
  orderToken: string;
  status: string;
  total: { amount: number; currency: string };
  items: { sku: string; quantity: number; unitPrice: { amount: number; currency: string } }[];
  holdExpiresAt: string;
};

export function checkoutBody(
  items: { sku: string; quantity: number }[],
  token = "tok_ok",
  extra: Record<string, unknown> = {},
) {
  return { items, customer: { email: "buyer@example.com", name: "Buyer" }, payment: { token }, ...extra };
}

/** POST /v1/checkout from a client of its own (so rate limits of other tests never apply). */
export function postCheckout(
  body: unknown,
  key: string | null = unique("key"),
  headers: Record<string, string> = {},
  bindings: Partial<Env> = {},
) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return call(
    "/v1/checkout",
    {
      method: "POST",
      headers: {
        ...JSON_HEADERS,
        // As a client sends it over the network, so the hot path sees what it would deployed.
        "Content-Length": String(new TextEncoder().encode(text).length),
        "CF-Connecting-IP":
          headers["CF-Connecting-IP"] ??
          `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
        ...(key === null ? {} : { "Idempotency-Key": key }),
        ...headers,
      },
      body: text,
    },
    bindings,
  );
}

export async function readOrder(orderId: string, token: string) {
  return call(`/v1/orders/${orderId}`, { headers: { Authorization: `Bearer ${token}` } });
}

/** An order as its buyer reads it, with what the payment tests look at. */
export type BuyerOrder = {
  status: string;
  failureReason?: string;
  payment: {
    status: string;
    attempts: number;
    refunded?: { amount: number; currency: string };
    dispute?: { id: string; status: string; reason: string };
    nextAction?: { type: string; url?: string; clientSecret?: string };
    actionExpiresAt?: string;
  };
};

/** A stocked SKU (`onHand` units) and an order of `quantity` placed on it, paying with `token`. */
export async function placeOrder(token: string, quantity: number, onHand: number) {
  const sku = await stockedSku(onHand);
  const response = await postCheckout(checkoutBody([{ sku, quantity }], token));
  if (response.status !== 202)
    throw new Error(`checkout failed: ${response.status} ${await response.text()}`);
  return { sku, accepted: await response.json<Accepted>() };
}

export const orderOf = async (accepted: Accepted) =>
  (await readOrder(accepted.orderId, accepted.orderToken)).json<BuyerOrder>();

/** Polls an order until its payment reaches `status` (the real queue runs the payment meanwhile). */
export async function paymentReaches(accepted: Accepted, status: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const order = await orderOf(accepted);
    if (order.payment.status === status || Date.now() > deadline) return order;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls an order until it leaves pending_payment (the real queue runs the payment meanwhile). */
export async function settledOrder(orderId: string, token: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const order = await (await readOrder(orderId, token)).json<{
      status: string;
      payment: { status: string; attempts: number };
    }>();
    if (order.status !== "pending_payment" || Date.now() > deadline) return order;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function chargesFor(orderId: string) {
  const response = await admin("GET", `/v1/admin/simulator/charges?orderId=${orderId}`);
  return (await response.json<{ charges: { id: string; status: string; idempotencyKey: string }[] }>())
    .charges;
}

export async function stockOf(sku: string) {
  return (await admin("GET", `/v1/admin/inventory/${sku}`)).json<{
    onHand: number;
    reserved: number;
    available: number;
    committed: number;
    holds: unknown[];
  }>();
}

/**
 * A cart reserved the way checkout reserves it: the edge plans it (sold-out fast path, bucket counts),
 * the order shard holds it, and the edge remembers what it found sold out.
 */
export async function reserveCart(scope: Scope, orderId: string, lines: CartLine[]) {
  const plan = await planCart(scope, lines);
  if (!plan.ok) return { ok: false as const, short: plan.short };
  const expiresAtMs = Date.now() + settings(scope.env).holdTtlSeconds * 1000;
  const result = await holdCart(scope.env, orderId, plan.lines, expiresAtMs);
  if (result.ok) return result;
  if ("unavailable" in result) throw new Error(`inventory unavailable: ${String(result.cause)}`);
  rememberShortage(scope, result.short);
  return { ok: false as const, short: result.short };
}

export const commitHolds = (e: Env, orderId: string, holds: SkuHold[]) =>
  settleOrders(e, [{ orderId, holds }], "committed");

export const releaseHolds = (e: Env, orderId: string, holds: SkuHold[]) =>
  settleOrders(e, [{ orderId, holds }], "released");

/** The order shard an Idempotency-Key belongs to, and the key's hash there. */
export async function shardOfTestKey(key: string) {
  const keyHash = await keyHashOf(key);
  return { keyHash, stub: orderShard(env, (await shardsOfKey(env, keyHash)).shard) };
}

/** What the key's shard keeps for it: its claim (state, order id, lock) or null. */
export async function claimOf(key: string) {
  const { keyHash, stub } = await shardOfTestKey(key);
  return runInDurableObject(
    stub,
    (_, state) =>
      state.storage.sql
        .exec<{ state: string; order_id: string; locked_until: number }>(
          "SELECT state, order_id, locked_until FROM keys WHERE key_hash = ?",
          keyHash,
        )
        .toArray()
        .at(0) ?? null,
  );
}

/** The shard's row of an order, as stored (lifecycle columns by their SQL names). */
export async function shardRow(orderId: string) {
  return runInDurableObject(
    orderShard(env, shardOfOrder(env, orderId) ?? 0),
    (_, state) =>
      state.storage.sql
        .exec<Record<string, string | number | null>>("SELECT * FROM orders WHERE id = ?", orderId)
        .toArray()
        .at(0) ?? null,
  );
}

/** Changes an order's row in its shard directly: the way a test moves time past a due date or lease. */
export async function patchShardRow(orderId: string, assignments: string, ...values: unknown[]) {
  await runInDurableObject(orderShard(env, shardOfOrder(env, orderId) ?? 0), (_, state) => {
    state.storage.sql.exec(`UPDATE orders SET ${assignments} WHERE id = ?`, ...values, orderId);
  });
}

/** Orders recorded by every shard. */
export async function shardOrderCount(): Promise<number> {
  const counts = await Promise.all(
    allShards(env).map((stub) =>
      runInDurableObject(
        stub,
        (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM orders").one().n,
      ),
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Runs an order's shard alarm now, as the runtime would when its due time comes. */
export async function runShardAlarm(orderId: string) {
  return runDurableObjectAlarm(orderShard(env, shardOfOrder(env, orderId) ?? 0));
}

/**
 * Makes `method` on every instance behind `prototype` (a class's, or a binding's) fail until the
 * returned function restores it: the way a test makes a binding or an object throw mid-operation.
 */
export function breakMethod(
  prototype: object,
  method: string,
  fail: (...args: unknown[]) => unknown = () => {
    throw new Error(`${method}: simulated outage`);
  },
): () => void {
  const original = Reflect.get(prototype, method);
  Reflect.set(prototype, method, fail);
  return () => Reflect.set(prototype, method, original);
}

/** A promise and the function that settles it. */
function deferred() {
  let settle!: () => void;
  const promise = new Promise<void>((resolve) => {
    settle = resolve;
  });
  return { promise, settle };
}

/**
 * Holds back the reserves of the inventory objects `stalls` picks, one at a time and in the order
 * they arrive: the way a request that stalls in a slow object call behaves. `reached(n)` resolves once
 * the n-th stalled call (from 0) is waiting; `letGo(n)` lets it go on to the real reserve, `fail(n)`
 * makes it throw, as an object that stopped answering would. Every other call goes through.
 */
export function stallReserves(stalls: (objectName: string) => boolean) {
  const slots: { arrived: ReturnType<typeof deferred>; go: ReturnType<typeof deferred>; fails: boolean }[] =
    [];
  const slot = (n: number) => {
    while (slots.length <= n) slots.push({ arrived: deferred(), go: deferred(), fails: false });
    return slots[n] as (typeof slots)[number];
  };
  let next = 0;
  const reserve = SkuInventory.prototype.reserve;
  const restore = breakMethod(
    SkuInventory.prototype,
    "reserve",
    async function (this: SkuInventory, ...args: unknown[]) {
      const name = (this as unknown as { ctx: DurableObjectState }).ctx.id.name ?? "";
      if (stalls(name)) {
        const mine = slot(next++);
        mine.arrived.settle();
        await mine.go.promise;
        if (mine.fails) throw new Error("overloaded");
      }
      return reserve.apply(this, args as Parameters<typeof reserve>);
    },
  );
  return {
    reached: (n: number) => slot(n).arrived.promise,
    letGo: (n: number) => slot(n).go.settle(),
    fail: (n: number) => {
      slot(n).fails = true;
      slot(n).go.settle();
    },
    restore,
  };
}

/**
 * The first call of an inventory object's `reserve` that `stalls` picks hangs until `fail()` and
 * then throws, as a request whose object stopped answering would; every other call goes through.
 * `stalled` resolves once that call is hanging.
 */
export function stallFirstReserve(stalls: (objectName: string) => boolean = () => true) {
  let first = true;
  const stall = stallReserves((name) => {
    const picked = first && stalls(name);
    if (picked) first = false;
    return picked;
  });
  return { stalled: stall.reached(0), fail: () => stall.fail(0), restore: stall.restore };
}

/**
 * One inventory object (a SKU's bucket, by name) throws on these methods, as an overloaded or
 * unreachable object would; every other object answers as usual.
 */
export function objectDown(name: string, methods: (keyof SkuInventory)[]): () => void {
  const restores = methods.map((method) => {
    const original = Reflect.get(SkuInventory.prototype, method) as (...args: unknown[]) => unknown;
    return breakMethod(SkuInventory.prototype, method, function (this: SkuInventory, ...args: unknown[]) {
      const ctx = Reflect.get(this, "ctx") as DurableObjectState;
      if (ctx.id.name === name) throw new Error(`${method}: Durable Object is overloaded`);
      return original.apply(this, args);
    });
  });
  return () => {
    for (const restore of restores.reverse()) restore();
  };
}

/** Has every bucket of a SKU deliver its open moves now; answers how many are still open. */
export const finishMoves = (sku: string) => finishSkuMoves(env, sku);

/** D1 down everywhere (the worker, the shards): every query throws until restored. */
export function takeD1Down(): () => void {
  const prototype = Object.getPrototypeOf(env.DB);
  const restores = ["prepare", "batch", "exec"].map((method) =>
    breakMethod(prototype, method, () => {
      throw new Error("D1_ERROR: simulated outage");
    }),
  );
  return () => {
    for (const restore of restores) restore();
  };
}

/** A payments queue that accepts every message and delivers none, as a lost send would. */
export function silenceQueue(): () => void {
  const prototype = Object.getPrototypeOf(env.PAYMENTS);
  const restores = ["send", "sendBatch"].map((method) => breakMethod(prototype, method, async () => {}));
  return () => {
    for (const restore of restores) restore();
  };
}

/** Hands these orders' payments to the consumer in one message, as the queue would deliver it. */
export async function deliverPayments(
  orderIds: string[],
  queue = "stampede-payments",
  bindings: Partial<Env> = {},
) {
  const batch = createMessageBatch(queue, [
    { id: unique("message"), timestamp: new Date(), attempts: 1, body: { orders: orderIds } },
  ]);
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, ...bindings }, ctx);
  return getQueueResult(batch, ctx);
}

/** Hands each order on in a message of its own, all in one batch: orders of any shards at once. */
export async function deliverOneBatch(orderIds: string[], bindings: Partial<Env> = {}) {
  const batch = createMessageBatch(
    "stampede-payments",
    orderIds.map((id, i) => ({ id: `m-${i}`, timestamp: new Date(), attempts: 1, body: { orders: [id] } })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, ...bindings }, ctx);
  return getQueueResult(batch, ctx);
}

/** Has every shard work through what it owes until nothing is left (or it stops making progress). */
export async function settleShards(rounds = 5) {
  let report = await reconcile(env);
  for (let i = 1; i < rounds && report.stillOwed > 0 && report.settled + report.resent > 0; i++) {
    report = await reconcile(env);
  }
  return report;
}

/** The order shard that holds an order. */
export function shardOf(orderId: string) {
  return orderShard(env, shardOfOrder(env, orderId) ?? 0);
}

/** A charge the gateway made under the order's key that the shard has not heard of. */
export function chargeBehindTheQueue(accepted: Accepted) {
  return env.SIMULATOR.getByName("simulator").charge({
    idempotencyKey: chargeKey(accepted.orderId),
    orderId: accepted.orderId,
    amount: accepted.total.amount,
    currency: accepted.total.currency,
    token: "tok_ok",
  });
}

/** The buyer cancels, with the order's token. */
export function cancelOrder(accepted: Accepted) {
  return call(`/v1/orders/${accepted.orderId}/cancel`, {
    method: "POST",
    headers: { Authorization: `Bearer ${accepted.orderToken}` },
  });
}
