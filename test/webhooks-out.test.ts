import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { announcements } from "../src/orders/lifecycle/announcements";
import { type AcceptedOrder, acceptedLifecycle, type OrderRow } from "../src/orders/lifecycle/order";
import { toOrderView } from "../src/orders/orders.view";
import { ShardStore } from "../src/orders/shard/orders.store";
import { ulid } from "../src/shared/ids";
import { retryDelaySeconds, setDeliveryFetch } from "../src/webhooks/delivery";
import {
  type Accepted,
  admin,
  breakMethod,
  call,
  cancelOrder,
  chargeBehindTheQueue,
  JSON_HEADERS,
  patchShardRow,
  settledOrder,
  settleShards,
  shardOf,
  unique,
} from "./helpers";
import {
  capturingQueue,
  consume,
  deadLetters,
  type Event,
  eventAbout,
  place,
  Receiver,
  signers,
  silencePayments,
} from "./webhooks.receiver";

/**
 * Outgoing webhooks, through real checkouts, the real queues and registry, and a receiver in this
 * isolate that checks every signature with its own code (test/webhooks.receiver.ts). Each test's
 * endpoints are deleted after it, so no other test's deliveries reach them.
 */
type Endpoint = {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  secretHint: string;
  secret?: string;
};

let receiver = new Receiver();
let restoreFetch = setDeliveryFetch(receiver.fetch);
const registered: string[] = [];

afterEach(async () => {
  for (const id of registered.splice(0)) await admin("DELETE", `/v1/admin/webhooks/endpoints/${id}`);
  restoreFetch();
  receiver = new Receiver();
  restoreFetch = setDeliveryFetch(receiver.fetch);
});

async function register(events: string[] = ["*"], extra: Record<string, unknown> = {}) {
  const url = `https://${unique("receiver")}.test/hooks`;
  const response = await admin("POST", "/v1/admin/webhooks/endpoints", { url, events, ...extra });
  expect(response.status).toBe(201);
  const endpoint = await response.json<Endpoint & { secret: string }>();
  registered.push(endpoint.id);
  receiver.secrets.set(url, [endpoint.secret]);
  return endpoint;
}

describe("webhook endpoints (admin API)", () => {
  it("registers an endpoint and shows its secret once: not in the list, not on a read, only a hint", async () => {
    const endpoint = await register(["order.paid", "order.refunded"], { description: "Fulfilment" });
    expect(endpoint.id).toMatch(/^we_[0-9A-Z]{26}$/);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(endpoint).toMatchObject({
      events: ["order.paid", "order.refunded"],
      description: "Fulfilment",
      enabled: true,
      secretHint: `…${endpoint.secret?.slice(-4)}`,
    });

    const list = await admin("GET", "/v1/admin/webhooks/endpoints");
    const listed = (await list.json<{ items: Endpoint[] }>()).items.find((item) => item.id === endpoint.id);
    expect(listed).toMatchObject({ url: endpoint.url, secretHint: endpoint.secretHint });
    const read = await (await admin("GET", `/v1/admin/webhooks/endpoints/${endpoint.id}`)).text();
    for (const text of [JSON.stringify(listed), read]) {
      expect(text).not.toContain(endpoint.secret);
      expect(text).not.toContain('"secret"');
    }

    // Another endpoint gets another secret.
    const other = await register();
    expect(other.secret).not.toBe(endpoint.secret);
  });

  it("refuses a bad URL, unknown event types and unknown fields with 400 problem+json, and changes nothing", async () => {
    const before = (await (await admin("GET", "/v1/admin/webhooks/endpoints")).json<{ items: unknown[] }>())
      .items.length;
    const bad = [
      { url: "http://shop.example/hooks", events: ["order.paid"] },
      { url: "ftp://shop.example/hooks", events: ["order.paid"] },
      { url: "not a url", events: ["order.paid"] },
      { url: "https://user:pass@shop.example/hooks", events: ["order.paid"] },
      { url: "https://shop.example/hooks", events: ["order.shipped"] },
      { url: "https://shop.example/hooks", events: [] },
      { url: "https://shop.example/hooks", events: ["*", "order.paid"] },
      { url: "https://shop.example/hooks", events: ["order.paid", "order.paid"] },
      { url: "https://shop.example/hooks", events: ["order.paid"], secret: "whsec_mine" },
    ];
    for (const body of bad) {
      const response = await admin("POST", "/v1/admin/webhooks/endpoints", body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      const problem = await response.json<{ code: string; errors: { path: string }[] }>();
      expect(problem.code).toBe("validation_failed");
      expect(problem.errors.length).toBeGreaterThan(0);
    }
    const unknownField = await admin("POST", "/v1/admin/webhooks/endpoints", bad.at(-1));
    expect((await unknownField.json<{ errors: { path: string }[] }>()).errors).toContainEqual(
      expect.objectContaining({ path: "secret", message: "Unknown field" }),
    );
    // Plain http is for a receiver on this machine.
    const local = await register(["order.paid"], {});
    const patched = await admin("PATCH", `/v1/admin/webhooks/endpoints/${local.id}`, {
      url: "http://localhost:3000/hooks",
    });
    expect(patched.status).toBe(200);
    const patchBad = await admin("PATCH", `/v1/admin/webhooks/endpoints/${local.id}`, { events: ["nope"] });
    expect(patchBad.status).toBe(400);
    const patchEmpty = await admin("PATCH", `/v1/admin/webhooks/endpoints/${local.id}`, {});
    expect(patchEmpty.status).toBe(400);
    const malformed = await call("/v1/admin/webhooks/endpoints", {
      method: "POST",
      headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}`, ...JSON_HEADERS },
      body: "{",
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: "invalid_json" });
    const after = (await (await admin("GET", "/v1/admin/webhooks/endpoints")).json<{ items: unknown[] }>())
      .items.length;
    expect(after).toBe(before + 1);
  });

  it("answers 401 without the admin token, and 404 for an unknown endpoint or dead letter", async () => {
    const paths: [string, string][] = [
      ["GET", "/v1/admin/webhooks/endpoints"],
      ["POST", "/v1/admin/webhooks/endpoints"],
      ["DELETE", "/v1/admin/webhooks/endpoints/we_01JD3Q8Z9N0Y4W6B7C2D5E8F1G"],
      ["GET", "/v1/admin/webhooks/dead-letters"],
      ["POST", "/v1/admin/webhooks/dead-letters/wdl_01JD3Q8Z9N0Y4W6B7C2D5E8F1G/redeliver"],
    ];
    for (const [method, path] of paths) {
      const response = await call(path, {
        method,
        headers: { ...JSON_HEADERS, Authorization: "Bearer wrong" },
        ...(method === "POST" ? { body: JSON.stringify({ url: "https://a.test", events: ["*"] }) } : {}),
      });
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    }
    for (const id of ["we_01JD3Q8Z9N0Y4W6B7C2D5E8F1G", "nonsense"]) {
      const missing = await admin("DELETE", `/v1/admin/webhooks/endpoints/${id}`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: "webhook_endpoint_not_found" });
    }
    const rotate = await admin(
      "POST",
      "/v1/admin/webhooks/endpoints/we_01JD3Q8Z9N0Y4W6B7C2D5E8F1G/rotate-secret",
    );
    expect(rotate.status).toBe(404);
    const letter = await admin(
      "POST",
      "/v1/admin/webhooks/dead-letters/wdl_01JD3Q8Z9N0Y4W6B7C2D5E8F1G/redeliver",
    );
    expect(letter.status).toBe(404);
    expect(await letter.json()).toMatchObject({ code: "webhook_dead_letter_not_found" });
  });
});

describe("order events", () => {
  it("delivers order.created and order.paid for a paid order, signed over the raw body", async () => {
    const endpoint = await register();
    const accepted = await place("tok_ok");
    expect((await settledOrder(accepted.orderId, accepted.orderToken)).status).toBe("paid");
    const deliveries = await receiver.await(endpoint.url, 2, accepted.orderId);
    expect(deliveries.map((d) => d.type).sort()).toEqual(["order.created", "order.paid"]);
    for (const delivery of deliveries) {
      expect(delivery.signedWith).toEqual([endpoint.secret]);
      expect(delivery.answered).toBe(200);
      expect(delivery.eventId).toBe(delivery.event.id);
      expect(delivery.event.id).toMatch(/^evt_[0-9A-Z]{26}$/);
      expect(delivery.type).toBe(delivery.event.type);
      expect(delivery.attempt).toBe(1);
      expect(delivery.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      // The same signature over a body changed by one byte does not verify.
      const last = accepted.orderId.at(-1) === "9" ? "8" : "9";
      const tampered = delivery.body.replace(accepted.orderId, `${accepted.orderId.slice(0, -1)}${last}`);
      expect(await signers(delivery.signature, tampered, [endpoint.secret ?? ""])).toEqual([]);
    }
    const created = deliveries.find((d) => d.type === "order.created")?.event;
    const paid = deliveries.find((d) => d.type === "order.paid")?.event;
    // Each carries the order as it was right after its change.
    expect(created?.data.order).toMatchObject({ id: accepted.orderId, status: "pending_payment" });
    expect(paid?.data.order).toMatchObject({
      id: accepted.orderId,
      status: "paid",
      payment: { status: "succeeded" },
    });
    expect(Date.parse(paid?.createdAt ?? "")).toBeGreaterThanOrEqual(Date.parse(created?.createdAt ?? ""));
  }, 60_000);

  it("delivers order.payment_failed for a declined payment and order.cancelled for a cancelled order", async () => {
    const endpoint = await register(["order.payment_failed", "order.cancelled"]);
    const declined = await place("tok_declined");
    expect((await settledOrder(declined.orderId, declined.orderToken)).status).toBe("payment_failed");
    const failed = await receiver.await(endpoint.url, 1, declined.orderId);
    expect(failed.map((d) => d.type)).toEqual(["order.payment_failed"]);
    expect(failed[0]?.event.data.order).toMatchObject({
      status: "payment_failed",
      payment: { status: "failed" },
    });

    const restore = silencePayments();
    try {
      const cancelled = await place("tok_ok");
      expect((await cancelOrder(cancelled)).status).toBe(200);
      await settleShards();
      const deliveries = await receiver.await(endpoint.url, 1, cancelled.orderId);
      expect(deliveries.map((d) => d.type)).toEqual(["order.cancelled"]);
      expect(deliveries[0]?.event.data.order).toMatchObject({ status: "cancelled" });
    } finally {
      restore();
    }
  }, 60_000);

  it("delivers order.refunded when a charge on a cancelled order is given back", async () => {
    const endpoint = await register(["order.cancelled", "order.refunded"]);
    const restore = silencePayments();
    try {
      const accepted = await place("tok_ok");
      // The consumer takes the attempt and charges, then dies before reporting; the buyer cancels.
      await shardOf(accepted.orderId).beginPayments([accepted.orderId]);
      await chargeBehindTheQueue(accepted);
      expect((await cancelOrder(accepted)).status).toBe(200);
      await patchShardRow(accepted.orderId, "lease_until = 1, due_at = 1");
      await settleShards();
      const deliveries = await receiver.await(endpoint.url, 2, accepted.orderId);
      expect(deliveries.map((d) => d.type).sort()).toEqual(["order.cancelled", "order.refunded"]);
      expect(deliveries.find((d) => d.type === "order.refunded")?.event.data.order).toMatchObject({
        status: "cancelled",
        payment: { status: "refunded" },
      });
    } finally {
      restore();
    }
  }, 60_000);

  it("sends an endpoint only the event types it subscribed to", async () => {
    const paidOnly = await register(["order.paid"]);
    const everything = await register(["*"]);
    const accepted = await place("tok_ok");
    expect((await settledOrder(accepted.orderId, accepted.orderToken)).status).toBe("paid");
    expect((await receiver.await(everything.url, 2, accepted.orderId)).length).toBe(2);
    await receiver.await(paidOnly.url, 1, accepted.orderId);
    await settleShards();
    expect(receiver.of(paidOnly.url, accepted.orderId).map((d) => d.type)).toEqual(["order.paid"]);
  }, 60_000);

  it("sends nothing to a disabled or deleted endpoint, and keeps the retries owed to a disabled one as its dead letters", async () => {
    const control = await register();
    const disabled = await register();
    const deleted = await register();
    const off = await admin("PATCH", `/v1/admin/webhooks/endpoints/${disabled.id}`, { enabled: false });
    expect(await off.json()).toMatchObject({ enabled: false });
    expect((await admin("DELETE", `/v1/admin/webhooks/endpoints/${deleted.id}`)).status).toBe(204);
    expect((await admin("GET", `/v1/admin/webhooks/endpoints/${deleted.id}`)).status).toBe(404);

    const accepted = await place("tok_ok");
    expect((await settledOrder(accepted.orderId, accepted.orderToken)).status).toBe("paid");
    expect((await receiver.await(control.url, 2, accepted.orderId)).length).toBe(2);
    await settleShards();
    expect(receiver.of(disabled.url)).toEqual([]);
    expect(receiver.of(deleted.url)).toEqual([]);

    // A retry owed to either when it went is acknowledged and sent nowhere; the paused endpoint's
    // waits as its dead letter, to redeliver once it is enabled, and the deleted one keeps none.
    const event = await eventAbout(accepted);
    const capture = capturingQueue();
    const retries = [disabled.id, deleted.id].map((endpointId) => ({
      event,
      endpointId,
      attempt: 3,
      firstAttemptAt: Date.now() - 60_000,
    }));
    const { result, ids } = await consume("stampede-webhooks", retries, { WEBHOOKS: capture.queue });
    expect(result.explicitAcks.sort()).toEqual(ids.sort());
    expect(capture.sent).toEqual([]);
    expect(receiver.deliveries.filter((d) => d.eventId === event.id)).toEqual([]);
    expect(await deadLetters(disabled.id)).toMatchObject([
      { state: "dead", attempts: 2, lastStatus: null, lastError: expect.stringMatching(/paused/) },
    ]);
    expect(await deadLetters(deleted.id)).toEqual([]);
  }, 60_000);
});

describe("delivery", () => {
  it("retries a delivery the endpoint answers 500 to, each time later, until it is delivered", async () => {
    const failing = await register();
    const healthy = await register();
    const event = await eventAbout(await place("tok_declined"));
    receiver.failing.set(`${failing.url} ${event.id}`, 4);

    const capture = capturingQueue();
    let next: unknown[] = [{ events: [event] }];
    const delays: number[] = [];
    for (let round = 0; round < 10 && next.length > 0; round++) {
      capture.sent.length = 0;
      const { result, ids } = await consume("stampede-webhooks", next, { WEBHOOKS: capture.queue });
      // Every message is acknowledged: a failed delivery goes on as a message of its own.
      expect(result.explicitAcks).toEqual(ids);
      expect(result.retryMessages).toEqual([]);
      delays.push(...capture.sent.map((message) => message.delaySeconds ?? 0));
      next = capture.sent.map((message) => message.body);
    }
    const attempts = receiver.of(failing.url).filter((d) => d.eventId === event.id);
    expect(attempts.map((d) => d.answered)).toEqual([500, 500, 500, 500, 200]);
    expect(attempts.map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5]);
    // The same event, byte for byte, each time; every attempt signed afresh and valid.
    expect(new Set(attempts.map((d) => d.body)).size).toBe(1);
    expect(attempts.every((d) => d.signedWith.length === 1)).toBe(true);
    // Only the failing endpoint was retried: the healthy one had it once.
    expect(
      receiver
        .of(healthy.url)
        .filter((d) => d.eventId === event.id)
        .map((d) => d.answered),
    ).toEqual([200]);
    // 30 s, then about twice as long each time (±20%).
    expect(delays).toHaveLength(4);
    expect(delays[0]).toBeGreaterThanOrEqual(24);
    expect(delays[0]).toBeLessThanOrEqual(36);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1] ?? 0);
    expect(delays[3]).toBeGreaterThanOrEqual(192);
  }, 60_000);

  it("spreads retries over a day: 30 s doubling, at most 12 h apart, the last at about 24 h", () => {
    const start = 0;
    let now = start;
    const delays: number[] = [];
    for (let attempt = 1; attempt < 100; attempt++) {
      const delay = retryDelaySeconds(attempt, start, now, () => 0.5);
      if (delay === null) break;
      delays.push(delay);
      now += delay * 1000;
    }
    expect(delays.slice(0, 4)).toEqual([30, 60, 120, 240]);
    expect(Math.max(...delays)).toBeLessThanOrEqual(43_200);
    expect(now / 3_600_000).toBeGreaterThan(23.9);
    expect(now / 3_600_000).toBeLessThanOrEqual(24);
    expect(delays.length).toBeGreaterThanOrEqual(12);
  });

  it("gives a delivery up after a day, lists it as a dead letter, and redelivers it on request (twice is harmless)", async () => {
    const endpoint = await register();
    const event = await eventAbout(await place("tok_declined"), "order.payment_failed");
    receiver.failing.set(`${endpoint.url} ${event.id}`, 1);
    const capture = capturingQueue();
    // The 13th attempt, a day less 10 s after the first: no retry fits in the day that is left.
    const last = { event, endpointId: endpoint.id, attempt: 13, firstAttemptAt: Date.now() - 86_390_000 };
    const { result, ids } = await consume("stampede-webhooks", [last], { WEBHOOKS: capture.queue });
    expect(result.explicitAcks).toEqual(ids);
    expect(capture.sent).toEqual([]);

    const [letter, ...others] = await deadLetters(endpoint.id);
    expect(others).toEqual([]);
    expect(letter).toMatchObject({ state: "dead", attempts: 13, lastStatus: 500, lastError: "HTTP 500" });
    expect(letter?.event).toEqual(event);

    // Redelivered through the real queue; asking again meanwhile starts nothing more.
    const first = await admin("POST", `/v1/admin/webhooks/dead-letters/${letter?.id}/redeliver`);
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ started: true, deadLetter: { state: "redelivering" } });
    const second = await admin("POST", `/v1/admin/webhooks/dead-letters/${letter?.id}/redeliver`);
    expect(second.status).toBe(202);
    expect(await second.json()).toMatchObject({ started: false });

    const deadline = Date.now() + 20_000;
    let state = "redelivering";
    while (state !== "delivered" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = (await deadLetters(endpoint.id))[0]?.state ?? "missing";
    }
    expect(state).toBe("delivered");
    const delivered = receiver.of(endpoint.url).filter((d) => d.eventId === event.id);
    expect(delivered.map((d) => [d.answered, d.attempt])).toEqual([
      [500, 13],
      [200, 1],
    ]);
  }, 60_000);

  it("delivers a duplicate message with the same event id and body, for the receiver to drop", async () => {
    const endpoint = await register();
    const event = await eventAbout(await place("tok_declined"));
    const capture = capturingQueue();
    await consume("stampede-webhooks", [{ events: [event] }], { WEBHOOKS: capture.queue });
    await consume("stampede-webhooks", [{ events: [event] }], { WEBHOOKS: capture.queue });
    const deliveries = receiver.of(endpoint.url).filter((d) => d.event.id === event.id);
    expect(deliveries).toHaveLength(2);
    expect(new Set(deliveries.map((d) => d.eventId))).toEqual(new Set([event.id]));
    expect(deliveries[0]?.body).toBe(deliveries[1]?.body);
    expect(capture.sent).toEqual([]);
  }, 60_000);

  it("stops trying an endpoint that keeps failing within a batch, without holding back the others", async () => {
    const broken = await register();
    const healthy = await register();
    receiver.down.add(broken.url);
    const accepted = await place("tok_declined");
    const events = await Promise.all(Array.from({ length: 6 }, () => eventAbout(accepted)));
    const capture = capturingQueue();
    const { result, ids } = await consume("stampede-webhooks", [{ events }], { WEBHOOKS: capture.queue });
    expect(result.explicitAcks).toEqual(ids);
    const mine = new Set(events.map((event) => event.id));
    expect(receiver.of(healthy.url).filter((d) => mine.has(d.eventId))).toHaveLength(6);
    // Every delivery to the broken one is scheduled again, though it was not tried six times.
    const retries = capture.sent.map((message) => message.body as { endpointId: string; event: Event });
    expect(retries.map((retry) => retry.endpointId)).toEqual(Array(6).fill(broken.id));
    expect(new Set(retries.map((retry) => retry.event.id))).toEqual(mine);
    expect(receiver.refused.get(broken.url)).toBeLessThan(6);
  }, 60_000);

  it("signs with both secrets during a rotation's grace period, then with the new one alone", async () => {
    const endpoint = await register();
    const rotated = await admin("POST", `/v1/admin/webhooks/endpoints/${endpoint.id}/rotate-secret`, {
      graceSeconds: 3600,
    });
    expect(rotated.status).toBe(200);
    const { secret } = await rotated.json<{ secret: string }>();
    expect(secret).not.toBe(endpoint.secret);
    receiver.secrets.set(endpoint.url, [secret, endpoint.secret ?? ""]);
    const event = await eventAbout(await place("tok_declined"));
    await consume("stampede-webhooks", [{ events: [event] }], { WEBHOOKS: capturingQueue().queue });
    const [during] = receiver.of(endpoint.url).filter((d) => d.eventId === event.id);
    expect(during?.signedWith).toEqual([secret, endpoint.secret]);

    const revoked = await admin("POST", `/v1/admin/webhooks/endpoints/${endpoint.id}/rotate-secret`, {
      graceSeconds: 0,
    });
    const newest = (await revoked.json<{ secret: string }>()).secret;
    receiver.secrets.set(endpoint.url, [newest, secret, endpoint.secret ?? ""]);
    const later = await eventAbout(await place("tok_declined"));
    await consume("stampede-webhooks", [{ events: [later] }], { WEBHOOKS: capturingQueue().queue });
    const [after] = receiver.of(endpoint.url).filter((d) => d.eventId === later.id);
    expect(after?.signedWith).toEqual([newest]);
    expect(after?.signature.match(/v1=/g)).toHaveLength(1);
  }, 60_000);

  it("gives a redelivery dropped for a paused endpoint back to its letter, to redeliver once it is enabled", async () => {
    const endpoint = await register();
    const event = await eventAbout(await place("tok_declined"), "order.payment_failed");
    receiver.failing.set(`${endpoint.url} ${event.id}`, 1);
    const last = { event, endpointId: endpoint.id, attempt: 13, firstAttemptAt: Date.now() - 86_390_000 };
    await consume("stampede-webhooks", [last], { WEBHOOKS: capturingQueue().queue });
    const [letter] = await deadLetters(endpoint.id);
    const path = `/v1/admin/webhooks/dead-letters/${letter?.id}/redeliver`;
    const endpointPath = `/v1/admin/webhooks/endpoints/${endpoint.id}`;

    // The operator redelivers, then pauses the endpoint before the consumer takes the message.
    for (const queue of ["stampede-webhooks", "stampede-webhooks-dlq"]) {
      const capture = capturingQueue();
      const started = await admin("POST", path, undefined, { WEBHOOKS: capture.queue });
      expect(await started.json()).toMatchObject({ started: true, deadLetter: { state: "redelivering" } });
      expect(capture.sent).toHaveLength(1);
      expect((await admin("PATCH", endpointPath, { enabled: false })).status).toBe(200);
      const { result, ids } = await consume(queue, [capture.sent[0]?.body], {
        WEBHOOKS: capturingQueue().queue,
      });
      expect(result.ackAll || result.explicitAcks.length === ids.length).toBe(true);
      expect(await deadLetters(endpoint.id)).toMatchObject([{ id: letter?.id, state: "dead" }]);

      // Enabled again, the letter can be redelivered at once.
      expect((await admin("PATCH", endpointPath, { enabled: true })).status).toBe(200);
      const again = capturingQueue();
      const restarted = await admin("POST", path, undefined, { WEBHOOKS: again.queue });
      expect(await restarted.json()).toMatchObject({ started: true });
      expect(again.sent).toHaveLength(1);
      await consume("stampede-webhooks", [again.sent[0]?.body], { WEBHOOKS: capturingQueue().queue });
      expect(await deadLetters(endpoint.id)).toMatchObject([{ id: letter?.id, state: "delivered" }]);
    }
  }, 60_000);

  it("makes dead letters of a given-up message only for endpoints that existed when its event happened", async () => {
    const before = await register(["order.created"]);
    const created = await eventAbout(await place("tok_declined"), "order.created");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const after = await register(["order.created"]);
    await consume("stampede-webhooks-dlq", [{ events: [created] }]);
    expect((await deadLetters(before.id)).map((letter) => letter.event.id)).toEqual([created.id]);
    expect(await deadLetters(after.id)).toEqual([]);
  }, 60_000);

  it("makes dead letters of the deliveries in a message the queue gave up on", async () => {
    const endpoint = await register(["order.created"]);
    const accepted = await place("tok_declined");
    const created = await eventAbout(accepted, "order.created");
    const paid = await eventAbout(accepted, "order.paid");
    const { result, ids } = await consume("stampede-webhooks-dlq", [{ events: [created, paid] }]);
    expect(result.ackAll || result.explicitAcks.length === ids.length).toBe(true);
    const letters = await deadLetters(endpoint.id);
    // Only the type it subscribed to.
    expect(letters.map((letter) => letter.event.id)).toEqual([created.id]);
    expect(letters[0]?.lastError).toMatch(/gave this delivery up/);
  }, 60_000);
});

describe("the outbox in the order shard", () => {
  it("writes an event with the change that causes it, in its transaction, and none for a change that did not happen", async () => {
    const stub = env.ORDERS.getByName(unique("outbox-shard"));
    await runInDurableObject(stub, (_, state) => {
      const store = new ShardStore(state.storage);
      const events = () =>
        state.storage.sql
          .exec<{ event: string }>("SELECT event FROM webhook_outbox ORDER BY seq")
          .toArray()
          .map((row) => JSON.parse(row.event) as Event);
      const now = Date.now();
      const order: AcceptedOrder = {
        id: `${ulid(now)}-0`,
        keyHash: "0".repeat(64),
        tokenHash: "1".repeat(64),
        items: [
          {
            sku: "SKU-1",
            productId: "p1",
            title: "Tee",
            quantity: 1,
            unitPrice: { amount: 100, currency: "USD" },
          },
        ],
        total: { amount: 100, currency: "USD" },
        customer: { email: "a@example.com" },
        paymentToken: "tok_ok",
        holds: [],
        holdExpiresAt: new Date(now + 900_000).toISOString(),
        createdAt: new Date(now).toISOString(),
      };
      const accepted: OrderRow = {
        ...order,
        ...acceptedLifecycle(order, now + 10_000),
        updatedAt: order.createdAt,
        version: 1,
        projected: 0,
      };
      state.storage.transactionSync(() => store.insert(accepted));
      expect(events().map((e) => [e.type, e.data.order.status])).toEqual([
        ["order.created", "pending_payment"],
      ]);
      // Built without reading the row back, it is the order as a read of it shows it.
      expect(events()[0]?.data.order).toEqual(toOrderView(store.order(order.id) as OrderRow));

      let row = accepted;
      const change = (next: Partial<OrderRow>, at = now) => {
        const after = { ...row, ...next };
        store.write(row, after, announcements(row, after), at);
        row = after;
      };
      // Scheduling and lifecycle columns that are not a status announce nothing.
      change({ dueAt: now, attempts: 1, leaseUntil: now + 60_000 });
      change({ paymentStatus: "succeeded", chargeId: "ch_1", leaseUntil: null });
      expect(events()).toHaveLength(1);

      // A change rolled back leaves no event behind.
      expect(() =>
        state.storage.transactionSync(() => {
          store.write(
            row,
            { ...row, status: "cancelled" },
            announcements(row, { ...row, status: "cancelled" }),
            now,
          );
          throw new Error("the write failed");
        }),
      ).toThrow("the write failed");
      expect(events()).toHaveLength(1);

      change({ status: "paid", stock: "committed" }, now + 1);
      change({ status: "paid" }, now + 2);
      change({ paymentStatus: "refunded" }, now + 3);
      change({ paymentStatus: "refunded" }, now + 4);
      const written = events();
      expect(written.map((e) => e.type)).toEqual(["order.created", "order.paid", "order.refunded"]);
      expect(written[1]?.data.order).toMatchObject({ status: "paid", payment: { status: "succeeded" } });
      expect(written[2]?.data.order).toMatchObject({ payment: { status: "refunded" } });
      expect(new Set(written.map((e) => e.id)).size).toBe(3);
      // Events about an order no checkout made must never reach a receiver.
      state.storage.sql.exec("DELETE FROM webhook_outbox");
    });
  });

  it("keeps checkout and payment going while the webhooks queue fails, and sends the events once it is back", async () => {
    const endpoint = await register();
    let accepted = { orderId: "" } as Accepted;
    const restoreQueue = breakMethod(Object.getPrototypeOf(env.WEBHOOKS), "sendBatch", async () => {
      throw new Error("Queue sendBatch failed: simulated outage");
    });
    try {
      accepted = await place("tok_ok");
      expect((await settledOrder(accepted.orderId, accepted.orderToken)).status).toBe("paid");
      await settleShards();
      expect(receiver.of(endpoint.url, accepted.orderId)).toEqual([]);
      const pending = await runInDurableObject(
        shardOf(accepted.orderId),
        (_, state) =>
          state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM webhook_outbox").one().n,
      );
      expect(pending).toBeGreaterThanOrEqual(2);
    } finally {
      restoreQueue();
    }
    await settleShards();
    const deliveries = await receiver.await(endpoint.url, 2, accepted.orderId);
    expect(deliveries.map((d) => d.type).sort()).toEqual(["order.created", "order.paid"]);
  }, 60_000);
});
