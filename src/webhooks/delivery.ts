import type { ShopEvent } from "../orders/protocol";
import { hmacKey } from "../shared/crypto";
import type { DeliveryTarget } from "./endpoints.do";

/**
 * One delivery of one event to one endpoint, and when to try again after it failed. The body is the
 * event's JSON, and the signature covers exactly those bytes: `Stampede-Signature: t=<unix seconds>,
 * v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the scheme Stripe uses, so receivers can reuse what they
 * know (a constant-time compare, a tolerance on `t` against replays). While a rotated secret is still
 * valid there is one `v1` per secret, newest first.
 */

/** An endpoint that has not answered by then is counted as failed (and retried). */
const DELIVERY_TIMEOUT_MS = 10_000;
/** Retries stop this long after the first attempt; the delivery is then a dead letter. */
const RETRY_WINDOW_MS = 24 * 3_600_000;
const FIRST_RETRY_SECONDS = 30;
/** The longest delay a queue message may be sent with. */
const MAX_DELAY_SECONDS = 43_200;

const encoder = new TextEncoder();

async function hmacHex(secret: string, payload: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(payload));
  return Array.from(new Uint8Array(mac), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function signatureHeader(secrets: string[], body: string, atMs: number): Promise<string> {
  const t = Math.floor(atMs / 1000);
  const signatures = await Promise.all(secrets.map((secret) => hmacHex(secret, `${t}.${body}`)));
  return [`t=${t}`, ...signatures.map((signature) => `v1=${signature}`)].join(",");
}

export type DeliveryFetch = (url: string, init: RequestInit) => Promise<Response>;

let deliveryFetch: DeliveryFetch = (url, init) => fetch(url, init);

/**
 * Replaces how deliveries reach the network, for tests that answer them in the same isolate (the
 * consumer, the queue and the registry stay real); answers the function that puts the network back.
 */
export function setDeliveryFetch(replacement: DeliveryFetch): () => void {
  const previous = deliveryFetch;
  deliveryFetch = replacement;
  return () => {
    deliveryFetch = previous;
  };
}

export type AttemptResult =
  | { ok: true; status: number }
  | { ok: false; status: number | null; error: string };

/**
 * POSTs the event. Any 2xx is delivered; anything else (another status, a redirect, which is not
 * followed, a timeout, a network error) is a failed attempt, never a thrown error.
 */
export async function deliver(
  target: DeliveryTarget,
  event: ShopEvent,
  attempt: number,
): Promise<AttemptResult> {
  const body = JSON.stringify(event);
  try {
    const response = await deliveryFetch(target.url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "User-Agent": "Stampede-Webhooks/1",
        "Stampede-Event-Id": event.id,
        "Stampede-Event-Type": event.type,
        "Stampede-Delivery-Attempt": String(attempt),
        "Stampede-Signature": await signatureHeader(target.secrets, body, Date.now()),
      },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    // Only the status matters; the connection is given back without reading what the receiver said.
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
    return { ok: false, status: response.status, error: `HTTP ${response.status}` };
  } catch (error) {
    return { ok: false, status: null, error: String(error).slice(0, 500) };
  }
}

/**
 * Seconds until the next attempt after attempt number `attempt` failed: 30 s, doubling each time,
 * ±20% jitter (so retries of many deliveries spread out, and each delay is still longer than the one
 * before), at most the queue's 12 h, and never past a day after the first attempt: the last attempt
 * lands at about 24 h. Null once the day is over: the delivery is given up.
 */
export function retryDelaySeconds(
  attempt: number,
  firstAttemptAt: number,
  now: number,
  random: () => number = Math.random,
): number | null {
  const left = Math.floor((firstAttemptAt + RETRY_WINDOW_MS - now) / 1000);
  if (left < FIRST_RETRY_SECONDS) return null;
  const step = FIRST_RETRY_SECONDS * 2 ** Math.min(Math.max(attempt - 1, 0), 20);
  const jittered = Math.round(step * (0.8 + 0.4 * random()));
  return Math.min(jittered, MAX_DELAY_SECONDS, left);
}
