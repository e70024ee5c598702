import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../src/index";

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
export async function stockedSku(onHand: number, buckets?: number): Promise<string> {
  const product = await createProduct();
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
  return call(
    "/v1/checkout",
    {
      method: "POST",
      headers: {
        ...JSON_HEADERS,
        "CF-Connecting-IP":
          headers["CF-Connecting-IP"] ??
          `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
        ...(key === null ? {} : { "Idempotency-Key": key }),
        ...headers,
      },
      body: typeof body === "string" ? body : JSON.stringify(body),
    },
    bindings,
  );
}

export async function readOrder(orderId: string, token: string) {
  return call(`/v1/orders/${orderId}`, { headers: { Authorization: `Bearer ${token}` } });
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
  return (await response.json<{ charges: { status: string; idempotencyKey: string }[] }>()).charges;
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
