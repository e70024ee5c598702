import { createHash } from "node:crypto";
import { ulid } from "../shared/ids";
import type { DrawWindow } from "./entries.store";

/** Entry books per draw: the customers' entries and the card claims spread over this many objects. */
export const DRAW_SHARDS = 16;

export function windowOf(product: string, draw: { opensAt: string; closesAt: string }): DrawWindow {
  return { product, opensAt: Date.parse(draw.opensAt), closesAt: Date.parse(draw.closesAt) };
}

const shardOf = (text: string) =>
  createHash("sha256").update(text, "utf8").digest().readUInt32BE(0) % DRAW_SHARDS;

/** The book holding a customer's entry (by the normalized email: one entry however it is spelt). */
export const customerShard = (product: string, customer: string) =>
  shardOf(`customer|${product}|${customer}`);

/** The book holding a card's claim (by the gateway's fingerprint of the card). */
export const cardShard = (product: string, fingerprint: string) => shardOf(`card|${product}|${fingerprint}`);

export function drawBook(env: Env, product: string, shard: number) {
  return env.DRAW_BOOKS.getByName(`${product}:${shard}`);
}

const ENTRY_ID = /^[0-9A-HJKMNP-TV-Z]{26}-(\d{1,2})$/;

/** An entry's id names its book, as an order's names its shard. */
export const newEntryId = (shard: number, now = Date.now()) => `${ulid(now)}-${shard}`;

export function shardOfEntry(entryId: string): number | null {
  const match = ENTRY_ID.exec(entryId);
  const shard = match ? Number(match[1]) : null;
  return shard !== null && shard < DRAW_SHARDS ? shard : null;
}
