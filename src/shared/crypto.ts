import { createHash } from "node:crypto";

const encoder = new TextEncoder();

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** Lower-case hex of bytes (a table, not a string per byte: drops hash thousands a second). */
export function hex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = "";
  for (const byte of view) text += HEX[byte];
  return text;
}

/**
 * SHA-256 of `text`'s UTF-8 bytes, as hex. Computed at once by node:crypto (workerd's BoringSSL): the
 * same digest as WebCrypto's, without its promise and buffer round trips, which showed in the profile of
 * the sold-out refusals (two hashes a refusal). Async for its callers' sake.
 */
export async function sha256Hex(text: string): Promise<string> {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The bytes of a base64url text (padded or not); throws on anything that is not base64. */
export function fromBase64url(text: string): Uint8Array {
  const padded = text.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(padded + "=".repeat((4 - (padded.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replaceAll("=", "");
}

/**
 * The HMAC-SHA-256 key of a secret (text, or raw bytes as base64url with `raw`), imported once per
 * isolate. Only the settled key is kept across requests, never the import's promise: workerd ties a
 * promise to the request that made it and drops what another request queued on it once the first
 * ends ("IoContext dropped queued cross-context actions"). Two first requests at once each import it;
 * either key serves. At most MAX_KEYS are kept (every secret a shop has, and each code batch's key).
 */
const hmacKeys = new Map<string, CryptoKey>();
const MAX_KEYS = 1_000;

export async function hmacKey(secret: string, { raw = false } = {}): Promise<CryptoKey> {
  const id = `${raw ? "raw" : "text"}:${secret}`;
  const known = hmacKeys.get(id);
  if (known) return known;
  const key = await crypto.subtle.importKey(
    "raw",
    raw ? fromBase64url(secret) : encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  if (hmacKeys.size >= MAX_KEYS) hmacKeys.clear();
  hmacKeys.set(id, key);
  return key;
}
