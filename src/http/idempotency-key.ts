import { AppError } from "../shared/errors";

/**
 * The Idempotency-Key header as draft-ietf-httpapi-idempotency-key-header defines it: required where a
 * route takes one, 1..255 visible ASCII characters, or the same as an RFC 8941 sf-string (`"..."`).
 */
export function parseIdempotencyKey(header: string | undefined, what = "checkout"): string {
  if (header === undefined) {
    throw new AppError("idempotency_key_missing", {
      detail: `Send an Idempotency-Key header with every ${what}`,
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
