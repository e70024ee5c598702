import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import worker from "../src/index";
import {
  type Accepted,
  admin,
  call,
  chargesFor,
  checkoutBody,
  deliverPayments,
  orderOf,
  postCheckout,
  silenceQueue,
  stockedSku,
  stockOf,
} from "./helpers";

/** The load-test harness's setting; the tests' worker runs with wrangler.toml's "false". */
const ON = { FAULT_INJECTION: "true" } as Partial<Env>;

const faults = (method: string, body?: unknown, bindings: Partial<Env> = ON) =>
  admin(method, "/v1/admin/faults", body, bindings);

async function placed(sku: string) {
  const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok"));
  expect(response.status).toBe(202);
  return response.json<Accepted>();
}

async function withQueueSilenced(work: () => Promise<void>) {
  const restore = silenceQueue();
  try {
    await work();
  } finally {
    restore();
  }
}

afterEach(async () => {
  expect((await faults("DELETE")).status).toBe(200);
});

describe("fault injection is off unless the deployment turns it on", () => {
  it("answers 404 without FAULT_INJECTION, and with it where the gateway is not the simulator", async () => {
    expect((await faults("GET", undefined, {})).status).toBe(404);
    const put = await faults("PUT", { gateway: { mode: "fail", seconds: 60 } }, {});
    expect(put.status).toBe(404);
    expect(await put.json()).toMatchObject({ code: "not_found" });
    const stripe = { ...ON, PAYMENT_PROVIDER: "stripe", STRIPE_SECRET_KEY: "sk_test_x" } as Partial<Env>;
    expect((await faults("PUT", { queue: { mode: "drop", seconds: 60 } }, stripe)).status).toBe(404);
    // Nothing was broken by the refused calls.
    expect(await (await faults("GET")).json()).toEqual({ gateway: null, queue: null });
  });

  it("takes only the admin token, and only a valid body", async () => {
    const anonymous = await call(
      "/v1/admin/faults",
      {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ gateway: { mode: "fail", seconds: 5 } }),
      },
      ON,
    );
    expect(anonymous.status).toBe(401);
    const invalid = await faults("PUT", { gateway: { mode: "explode", seconds: 5 }, extra: 1 });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ code: "validation_failed" });
    expect(await (await faults("GET")).json()).toEqual({ gateway: null, queue: null });
  });

  it("leaves the queue alone when the deployment has it off, whatever was injected before", async () => {
    expect((await faults("PUT", { queue: { mode: "drop", seconds: 60 } })).status).toBe(200);
    await withQueueSilenced(async () => {
      const sku = await stockedSku(5);
      const order = await placed(sku);
      await deliverPayments([order.orderId]);
      expect(await orderOf(order)).toMatchObject({ status: "paid" });
    });
  });
});

describe("gateway faults in the simulator", () => {
  it("lose: the charge is made and its answer lost; the order is paid once when the gateway is asked again", async () => {
    await withQueueSilenced(async () => {
      const sku = await stockedSku(5);
      const order = await placed(sku);
      const on = await faults("PUT", { gateway: { mode: "lose", seconds: 60 } });
      expect(await on.json()).toMatchObject({ gateway: { mode: "lose" } });
      await deliverPayments([order.orderId]);
      expect(await chargesFor(order.orderId)).toHaveLength(1);
      expect(await orderOf(order)).toMatchObject({ status: "pending_payment" });
      await faults("DELETE");
      await deliverPayments([order.orderId]);
      expect(await orderOf(order)).toMatchObject({ status: "paid" });
      expect(await chargesFor(order.orderId)).toHaveLength(1);
      expect(await stockOf(sku)).toMatchObject({ onHand: 4, committed: 1, reserved: 0 });
    });
  });

  it("fail: nothing is charged while the gateway is down; the order is paid after it is back", async () => {
    await withQueueSilenced(async () => {
      const sku = await stockedSku(5);
      const order = await placed(sku);
      await faults("PUT", { gateway: { mode: "fail", seconds: 60 } });
      await deliverPayments([order.orderId]);
      await deliverPayments([order.orderId]);
      expect(await chargesFor(order.orderId)).toEqual([]);
      expect(await orderOf(order)).toMatchObject({ status: "pending_payment" });
      await faults("DELETE");
      await deliverPayments([order.orderId]);
      expect(await orderOf(order)).toMatchObject({ status: "paid" });
      expect(await chargesFor(order.orderId)).toHaveLength(1);
    });
  });

  it("timeout: the gateway answers late and charges nothing; the fault ends by itself", async () => {
    await withQueueSilenced(async () => {
      const sku = await stockedSku(5);
      const order = await placed(sku);
      await faults("PUT", { gateway: { mode: "timeout", seconds: 2, delayMs: 300 } });
      const started = Date.now();
      await deliverPayments([order.orderId]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(await chargesFor(order.orderId)).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect(await (await faults("GET")).json()).toMatchObject({ gateway: null });
      await deliverPayments([order.orderId]);
      expect(await orderOf(order)).toMatchObject({ status: "paid" });
      expect(await chargesFor(order.orderId)).toHaveLength(1);
    });
  }, 30_000);
});

describe("queue faults", () => {
  async function deliverWith(orderId: string) {
    const batch = createMessageBatch("stampede-payments", [
      { id: "m-0", timestamp: new Date(), attempts: 1, body: { orders: [orderId] } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, ...ON }, ctx);
    return getQueueResult(batch, ctx);
  }

  it("drop: the delivery is acked unread; delay: it is handed back for later; neither charges", async () => {
    await withQueueSilenced(async () => {
      const sku = await stockedSku(5);
      const order = await placed(sku);
      await faults("PUT", { queue: { mode: "drop", seconds: 60 } });
      expect(await deliverWith(order.orderId)).toMatchObject({ ackAll: true, retryBatch: { retry: false } });
      await faults("PUT", { queue: { mode: "delay", seconds: 60, delaySeconds: 7 } });
      expect(await deliverWith(order.orderId)).toMatchObject({ ackAll: false, retryBatch: { retry: true } });
      expect(await chargesFor(order.orderId)).toEqual([]);
      expect(await orderOf(order)).toMatchObject({ status: "pending_payment" });
      // Faults over: the same delivery pays the order.
      await faults("DELETE");
      await deliverWith(order.orderId);
      expect(await orderOf(order)).toMatchObject({ status: "paid" });
      expect(await chargesFor(order.orderId)).toHaveLength(1);
    });
  });

  it("a queue fault whose time is up takes nothing", async () => {
    await withQueueSilenced(async () => {
      const sku = await stockedSku(5);
      const order = await placed(sku);
      await faults("PUT", { queue: { mode: "drop", seconds: 0 } });
      await deliverWith(order.orderId);
      expect(await orderOf(order)).toMatchObject({ status: "paid" });
    });
  });
});
