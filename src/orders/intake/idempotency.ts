import { sha256Hex } from "../../shared/crypto";
import { AppError } from "../../shared/errors";
import type { StoredResponse } from "../protocol";

/**
 * Idempotency-Key handling after draft-ietf-httpapi-idempotency-key-header: the first request with
 * a key claims it; a concurrent one is told the key is in use; a different body under the same key
 * is refused; a later identical request gets the first response back. The order shard the key hashes
 * to keeps the claims (see orders/order-shard.do.ts); this module holds what both sides share. A
 * stored response is encrypted with a key derived from the client's Idempotency-Key, which is itself
 * stored only as a hash, so the shard's storage alone never reveals the order token inside it.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The same JSON value always gives the same fingerprint, whatever its key order or spacing. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function fingerprint(body: unknown): Promise<string> {
  return sha256Hex(canonicalJson(body));
}

async function cipherKeyFor(key: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", encoder.encode(key), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: encoder.encode("stampede idempotency v1"),
      info: new Uint8Array(),
    },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));

/** The key's hash names it in storage; the key itself never leaves the request. */
export function keyHashOf(key: string): Promise<string> {
  return sha256Hex(`idempotency-key:${key}`);
}

export async function sealResponse(key: string, response: StoredResponse): Promise<string> {
  const cipherKey = await cipherKeyFor(key);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    cipherKey,
    encoder.encode(JSON.stringify(response)),
  );
  return `${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

export async function openResponse(key: string, sealed: string): Promise<StoredResponse> {
  const cipherKey = await cipherKeyFor(key);
  const [iv = "", data = ""] = sealed.split(".");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(iv) },
    cipherKey,
    fromBase64(data),
  );
  return JSON.parse(decoder.decode(plain));
}

export function inUse(waitMs: number) {
  return new AppError("idempotency_key_in_use", {
    detail: "A request with this Idempotency-Key is still being processed",
    headers: { "Retry-After": String(Math.max(1, Math.ceil(waitMs / 1000))) },
  });
}

export function mismatch() {
  return new AppError("idempotency_key_mismatch", {
    detail: "This Idempotency-Key was used with a different request body",
  });
}
