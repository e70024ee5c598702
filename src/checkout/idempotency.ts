import { and, eq } from "drizzle-orm";
import { type Database, statement } from "../db/client";
import { idempotencyKeys } from "../db/schema";
import { AppError } from "../errors";
import { sha256Hex } from "../shared/crypto";

/**
 * Idempotency-Key handling after draft-ietf-httpapi-idempotency-key-header: the first request with
 * a key claims it; a concurrent one is told the key is in use; a different body under the same key
 * is refused; a later identical request gets the first response back. The stored response is
 * encrypted with a key derived from the client's Idempotency-Key, which is itself stored only as a
 * hash, so the database alone never reveals the order token inside it.
 */
const LOCK_MS = 30_000;
/** Keys are kept at least 24 h, as the contract promises; the reconciler drops them after this. */
export const KEY_RETENTION_MS = 48 * 3600 * 1000;

export type StoredResponse = { status: number; headers: Record<string, string>; body: string };

export type Claim =
  | { kind: "owner"; keyHash: string; orderId: string; cipherKey: CryptoKey }
  | { kind: "replay"; response: StoredResponse };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** 1..255 visible ASCII characters, or the same as an RFC 8941 sf-string (`"..."`). */
export function parseIdempotencyKey(header: string | undefined): string {
  if (header === undefined) {
    throw new AppError("idempotency_key_missing", {
      detail: "Send an Idempotency-Key header with every checkout",
    });
  }
  let key = header.trim();
  if (key.startsWith('"')) {
    const match = /^"((?:[\x20\x21\x23-\x5B\x5D-\x7E]|\\["\\])*)"$/.exec(key);
    key = match?.[1]?.replace(/\\(["\\])/g, "$1") ?? "";
    if (!match) throw invalidKey();
  }
  if (!/^[\x21-\x7E]{1,255}$/.test(key)) throw invalidKey();
  return key;
}

function invalidKey() {
  return new AppError("idempotency_key_invalid", {
    detail: "Idempotency-Key must be 1 to 255 visible ASCII characters (optionally as a quoted string)",
  });
}

/** The same JSON value always gives the same fingerprint, whatever its key order or spacing. */
export function canonicalJson(value: unknown): string {
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

async function seal(cipherKey: CryptoKey, response: StoredResponse): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    cipherKey,
    encoder.encode(JSON.stringify(response)),
  );
  return `${toBase64(iv)}.${toBase64(new Uint8Array(sealed))}`;
}

async function open(cipherKey: CryptoKey, sealed: string): Promise<StoredResponse> {
  const [iv = "", data = ""] = sealed.split(".");
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(iv) },
    cipherKey,
    fromBase64(data),
  );
  return JSON.parse(decoder.decode(plain));
}

/**
 * Claims `key` for a request with this body fingerprint. The owner gets the order id to use (a new
 * one, or the one a crashed earlier attempt had claimed, so its holds are reused, not doubled).
 */
export async function claim(
  db: Database,
  key: string,
  print: string,
  newOrderId: string,
  now = Date.now(),
): Promise<Claim> {
  const keyHash = await sha256Hex(`idempotency-key:${key}`);
  const cipherKey = await cipherKeyFor(key);
  const [inserted] = await db
    .insert(idempotencyKeys)
    .values({
      keyHash,
      fingerprint: print,
      state: "in_flight",
      orderId: newOrderId,
      lockedUntil: now + LOCK_MS,
      createdAt: now,
      expiresAt: now + KEY_RETENTION_MS,
    })
    .onConflictDoNothing()
    .returning({ orderId: idempotencyKeys.orderId });
  if (inserted) return { kind: "owner", keyHash, orderId: inserted.orderId, cipherKey };

  const [row] = await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.keyHash, keyHash));
  if (!row) return claim(db, key, print, newOrderId, now);
  if (row.fingerprint !== print) {
    throw new AppError("idempotency_key_mismatch", {
      detail: "This Idempotency-Key was used with a different request body",
    });
  }
  if (row.state === "done" && row.response)
    return { kind: "replay", response: await open(cipherKey, row.response) };
  if (row.lockedUntil > now) throw inUse(row.lockedUntil - now);

  // The request that claimed the key stopped without finishing: take over its claim and its order id.
  const [taken] = await db
    .update(idempotencyKeys)
    .set({ lockedUntil: now + LOCK_MS })
    .where(
      and(
        eq(idempotencyKeys.keyHash, keyHash),
        eq(idempotencyKeys.state, "in_flight"),
        eq(idempotencyKeys.lockedUntil, row.lockedUntil),
      ),
    )
    .returning({ orderId: idempotencyKeys.orderId });
  if (!taken) throw inUse(LOCK_MS);
  return { kind: "owner", keyHash, orderId: taken.orderId, cipherKey };
}

function inUse(waitMs: number) {
  return new AppError("idempotency_key_in_use", {
    detail: "A request with this Idempotency-Key is still being processed",
    headers: { "Retry-After": String(Math.max(1, Math.ceil(waitMs / 1000))) },
  });
}

/** The statement that records the final response; batched with the writes it describes. */
export async function completion(
  db: Database,
  owner: Extract<Claim, { kind: "owner" }>,
  response: StoredResponse,
) {
  return statement(
    db.$client,
    db
      .update(idempotencyKeys)
      .set({ state: "done", statusCode: response.status, response: await seal(owner.cipherKey, response) })
      .where(eq(idempotencyKeys.keyHash, owner.keyHash)),
  );
}

/** The response stored under a claimed key once its request completed, if it has. */
export async function storedResponse(db: Database, owner: Extract<Claim, { kind: "owner" }>) {
  const [row] = await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.keyHash, owner.keyHash));
  return row?.state === "done" && row.response ? open(owner.cipherKey, row.response) : null;
}

/** Gives a key back when nothing was done under it, so the client's retry starts afresh. */
export async function abandon(db: Database, owner: Extract<Claim, { kind: "owner" }>) {
  await db
    .delete(idempotencyKeys)
    .where(and(eq(idempotencyKeys.keyHash, owner.keyHash), eq(idempotencyKeys.state, "in_flight")));
}
