import { base64url, hmacKey } from "../shared/crypto";

/**
 * Batches of single-use codes (10,000 codes for an influencer campaign, each usable once), kept as one
 * definition: a batch has a prefix, a count and a key of its own, and its i-th code is
 * `PREFIX-` + i (4 characters) + a MAC of the prefix and i under the batch's key (8 characters), all
 * base32. So checkout tells a code of the batch from a guess without storing any code (a guess passes
 * once in 2^40), the CSV of every code is made again from the key whenever it is asked for, and each
 * code's single use is held like any capped code's (an allowance of one, named by the code).
 */
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
export const MAX_BATCH = 32 ** 4;
const INDEX_CHARS = 4;
const MAC_CHARS = 8;

function base32(bytes: Uint8Array, chars: number): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
    if (out.length >= chars) break;
  }
  return out;
}

const indexText = (index: number) =>
  Array.from(
    { length: INDEX_CHARS },
    (_, i) => ALPHABET[Math.floor(index / 32 ** (INDEX_CHARS - 1 - i)) % 32],
  ).join("");

function indexOf(text: string): number {
  let index = 0;
  for (const char of text) index = index * 32 + ALPHABET.indexOf(char);
  return index;
}

/** A new batch key: 256 random bits. */
export const newBatchKey = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

async function macOf(key: CryptoKey, prefix: string, index: number): Promise<string> {
  const signed = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${prefix}|${index}`));
  return base32(new Uint8Array(signed), MAC_CHARS);
}

/** The codes `from` .. `to` (exclusive) of a batch. */
export async function batchCodes(
  prefix: string,
  keyText: string,
  from: number,
  to: number,
): Promise<string[]> {
  const key = await hmacKey(keyText, { raw: true });
  const codes: string[] = [];
  for (let index = from; index < to; index++) {
    codes.push(`${prefix}-${indexText(index)}${await macOf(key, prefix, index)}`);
  }
  return codes;
}

/** A code's batch prefix, if it has the shape of a batch's code at all. */
export function batchPrefixOf(code: string): string | null {
  const match = /^([A-Z0-9]{3,16})-[A-Z2-7]{12}$/.exec(code);
  return match?.[1] ?? null;
}

/** Whether `code` is one of the batch's `count` codes. */
export async function isBatchCode(
  code: string,
  prefix: string,
  keyText: string,
  count: number,
): Promise<boolean> {
  if (!code.startsWith(`${prefix}-`)) return false;
  const tail = code.slice(prefix.length + 1);
  const index = indexOf(tail.slice(0, INDEX_CHARS));
  if (index >= count) return false;
  const expected = await macOf(await hmacKey(keyText, { raw: true }), prefix, index);
  // Compared in full whatever differs first: the MAC is a secret until the code is handed out.
  let differs = 0;
  const given = tail.slice(INDEX_CHARS);
  for (let i = 0; i < MAC_CHARS; i++) differs |= (given.charCodeAt(i) || 0) ^ (expected.charCodeAt(i) || 0);
  return differs === 0 && given.length === MAC_CHARS;
}
