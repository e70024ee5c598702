import { z } from "zod";
import { base64url, fromBase64url, hex, hmacKey } from "../shared/crypto";

/**
 * A drop's queue tickets and admission passes: signed at the edge (HMAC-SHA256 with
 * `ADMISSION_SECRET`), so issuing and checking one touches no object and no store. A ticket carries
 * its place in the line (`rank`); a pass, given to a ticket the room has admitted, lets its holder
 * check out once before it expires, and only with the email it was issued to.
 *
 * Ranks: a buyer who joins before the shuffle (the start, or the end of the prequeue window after it)
 * draws a uniformly random rank in [0, 1), which is the same as shuffling everyone who came early:
 * arriving first by a few milliseconds buys nothing. The draw is a keyed hash of the drop and the
 * customer, so joining again draws the same rank: nobody can re-roll. A later arrival's rank is 1 +
 * the seconds since the shuffle, so they queue in order of arrival behind the whole prequeue.
 */
export const Ticket = z
  .object({
    kind: z.literal("ticket"),
    id: z.string().regex(/^[0-9a-f]{32}$/),
    productId: z.string().min(1).max(64),
    customer: z.string().regex(/^[0-9a-f]{64}$/),
    rank: z.number().min(0),
    joinedAt: z.number().int(),
  })
  .strict();
export type Ticket = z.infer<typeof Ticket>;

export const Pass = z
  .object({
    kind: z.literal("pass"),
    id: z.string().regex(/^[0-9a-f]{32}$/),
    productId: z.string().min(1).max(64),
    customer: z.string().regex(/^[0-9a-f]{64}$/),
    expiresAt: z.number().int(),
  })
  .strict();
export type Pass = z.infer<typeof Pass>;

const encoder = new TextEncoder();

/** `<base64url JSON>.<base64url HMAC>`. */
export async function sign(secret: string, value: Ticket | Pass): Promise<string> {
  const body = base64url(encoder.encode(JSON.stringify(value)));
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(body));
  return `${body}.${base64url(new Uint8Array(mac))}`;
}

/** The signed value, or null for anything forged, altered, malformed or of another kind. */
export async function verify<T extends z.ZodType>(
  secret: string,
  token: string,
  schema: T,
): Promise<z.infer<T> | null> {
  const [body, mac, extra] = token.split(".");
  if (!body || !mac || extra !== undefined || token.length > 2000) return null;
  try {
    const valid = await crypto.subtle.verify(
      "HMAC",
      await hmacKey(secret),
      fromBase64url(mac),
      encoder.encode(body),
    );
    if (!valid) return null;
    const parsed = schema.safeParse(JSON.parse(new TextDecoder().decode(fromBase64url(body))));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** HMAC-SHA256 of `text` under the admission secret, hex: a keyed hash nobody else can compute. */
export async function keyedHash(secret: string, text: string): Promise<string> {
  return hex(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(text)));
}

/** A customer's draw for a drop's prequeue: uniform in [0, 1), the same every time they join. */
export async function drawRank(secret: string, productId: string, customer: string): Promise<number> {
  const hex = await keyedHash(secret, `rank|${productId}|${customer}`);
  return Number.parseInt(hex.slice(0, 13), 16) / 2 ** 52;
}

/** A rank's bin: the prequeue's [0, 1) in 1000 bins, then one bin per second of later arrivals. */
const PREQUEUE_BINS = 1000;
export function binOf(rank: number): number {
  return rank < 1 ? Math.floor(rank * PREQUEUE_BINS) : PREQUEUE_BINS + Math.floor(rank - 1);
}
