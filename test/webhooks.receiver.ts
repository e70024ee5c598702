import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../src/index";
import { ulid } from "../src/shared/ids";
import {
  type Accepted,
  admin,
  breakMethod,
  checkoutBody,
  postCheckout,
  readOrder,
  stockedSku,
  unique,
} from "./helpers";

/**
 * A webhook receiver, as a shop would write one, with its own HMAC code (nothing from src/ checks a
 * signature here), and the ways test/webhooks-out.test.ts drives the webhooks queue's consumer.
 */
export type Event = {
  id: string;
  type: string;
  createdAt: string;
  data: { order: { id: string; status: string; payment: { status: string } } };
};

type Delivery = {
  url: string;
  eventId: string;
  type: string;
  attempt: number;
  signature: string;
  body: string;
  event: Event;
  /** Which of the receiver's secrets for this URL signed it (none: it was refused with 401). */
  signedWith: string[];
  answered: number;
};

const encoder = new TextEncoder();

async function hmacSha256Hex(key: string, message: string): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(message)));
  return [...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Which of `secrets` sign `body` under this `Stampede-Signature` header, within 5 minutes of now. */
export async function signers(header: string, body: string, secrets: string[]): Promise<string[]> {
  const parts = header.split(",").map((part) => part.split("=", 2) as [string, string]);
  const t = Number(parts.find(([name]) => name === "t")?.[1]);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300) return [];
  const given = parts.filter(([name]) => name === "v1").map(([, value]) => value);
  const found: string[] = [];
  for (const secret of secrets) {
    const expected = await hmacSha256Hex(secret, `${t}.${body}`);
    if (given.includes(expected)) found.push(secret);
  }
  return found;
}

export class Receiver {
  readonly deliveries: Delivery[] = [];
  /** Secrets by URL: what the shop stored when it registered the endpoint. */
  readonly secrets = new Map<string, string[]>();
  /** Per `<url> <event id>`, how many more deliveries to answer 500. */
  readonly failing = new Map<string, number>();
  /** URLs that never answer (a network error). */
  readonly down = new Set<string>();

  /** Attempts that reached a URL that is down. */
  readonly refused = new Map<string, number>();

  fetch = async (url: string, init: RequestInit): Promise<Response> => {
    if (this.down.has(url)) {
      this.refused.set(url, (this.refused.get(url) ?? 0) + 1);
      throw new Error("connect ECONNREFUSED");
    }
    const headers = new Headers(init.headers);
    const body = String(init.body);
    const signature = headers.get("Stampede-Signature") ?? "";
    const signedWith = await signers(signature, body, this.secrets.get(url) ?? []);
    const event = JSON.parse(body) as Event;
    const key = `${url} ${event.id}`;
    const failures = this.failing.get(key) ?? 0;
    const answered = signedWith.length === 0 ? 401 : failures > 0 ? 500 : 200;
    if (failures > 0) this.failing.set(key, failures - 1);
    this.deliveries.push({
      url,
      eventId: headers.get("Stampede-Event-Id") ?? "",
      type: headers.get("Stampede-Event-Type") ?? "",
      attempt: Number(headers.get("Stampede-Delivery-Attempt")),
      signature,
      body,
      event,
      signedWith,
      answered,
    });
    return new Response(answered === 200 ? "ok" : "no", { status: answered });
  };

  of(url: string, orderId?: string) {
    return this.deliveries.filter(
      (delivery) => delivery.url === url && (!orderId || delivery.event.data.order.id === orderId),
    );
  }

  /** Waits until `url` has had `count` deliveries (about `orderId`), or the time runs out. */
  async await(url: string, count: number, orderId?: string, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.of(url, orderId).length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return this.of(url, orderId);
  }
}

export async function place(token = "tok_ok") {
  const sku = await stockedSku(5);
  const response = await postCheckout(checkoutBody([{ sku, quantity: 1 }], token));
  expect(response.status).toBe(202);
  return response.json<Accepted>();
}

/** The payment queue's sends swallowed (webhooks use sendBatch and keep going), as a lost send would. */
export function silencePayments() {
  return breakMethod(Object.getPrototypeOf(env.PAYMENTS), "send", async () => {});
}

/** A queue binding that keeps what is sent to it, with its delays, instead of queueing it. */
export function capturingQueue() {
  const sent: { body: Record<string, unknown>; delaySeconds: number | undefined }[] = [];
  type Options = { delaySeconds?: number };
  const queue = {
    async send(body: Record<string, unknown>, options?: Options) {
      sent.push({ body, delaySeconds: options?.delaySeconds });
    },
    async sendBatch(messages: { body: Record<string, unknown>; delaySeconds?: number }[], options?: Options) {
      for (const message of messages) {
        sent.push({ body: message.body, delaySeconds: message.delaySeconds ?? options?.delaySeconds });
      }
    },
  };
  return { queue: queue as unknown as Queue, sent };
}

/** Runs the worker's queue handler on these message bodies, as the queue would deliver them. */
export async function consume(queue: string, bodies: unknown[], bindings: Partial<Env> = {}) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body) => ({ id: unique("msg"), timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, ...bindings }, ctx);
  const result = await getQueueResult(batch, ctx);
  return { result, ids: batch.messages.map((message) => message.id) };
}

/** An event as a shard writes it, about a real order, with an id of its own. */
export async function eventAbout(accepted: Accepted, type = "order.created"): Promise<Event> {
  const order = await (await readOrder(accepted.orderId, accepted.orderToken)).json<Event["data"]["order"]>();
  return { id: `evt_${ulid()}`, type, createdAt: new Date().toISOString(), data: { order } };
}

export async function deadLetters(endpointId: string) {
  const response = await admin("GET", `/v1/admin/webhooks/dead-letters?endpointId=${endpointId}`);
  expect(response.status).toBe(200);
  return (
    await response.json<{
      items: {
        id: string;
        state: string;
        attempts: number;
        lastStatus: number | null;
        lastError: string | null;
        event: Event;
      }[];
    }>()
  ).items;
}
