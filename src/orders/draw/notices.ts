import { createHash } from "node:crypto";
import { DRAW_SHARDS, drawBook, shardOfEntry } from "../../draws/draws";
import type { EntryRow } from "../../draws/entries.store";
import { emailId, handOver } from "../../email/email.service";
import type { OutgoingEmail } from "../../email/mail.store";
import { settings, shopIdentity } from "../../shared/config";
import { withTimeout } from "../../shared/timeout";
import type { DrawEvent } from "../events.schemas";
import { drawEmailFor } from "../notify/draw-emails";
import { drawnOrderToken } from "./winners";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CALL_TIMEOUT_MS = 10_000;
/** Entrants told per book per round: one queue message of events stays well under its 128 KB. */
const NOTICES = 100;

/**
 * An entry's event id, the same however often it is made (an event id is `evt_` and 26 Crockford
 * characters): webhook receivers and mailers keep one of each, so a notice handed on twice is one.
 */
function eventId(entryId: string, type: DrawEvent["type"]): string {
  const digest = createHash("sha256").update(`${type}|${entryId}`, "utf8").digest();
  let id = "";
  for (let i = 0; i < 26; i++) id += CROCKFORD[(digest[i] ?? 0) % 32];
  return `evt_${id}`;
}

function eventOf(product: string, entry: EntryRow, closesAt: number): DrawEvent | null {
  if (entry.state !== "entered" && entry.state !== "won" && entry.state !== "lost") return null;
  if (entry.enteredAt === null) return null;
  const type = `draw.${entry.state}` as const;
  return {
    id: eventId(entry.entryId, type),
    type,
    createdAt: new Date(
      entry.state === "entered" ? entry.enteredAt : (entry.leftAt ?? entry.enteredAt),
    ).toISOString(),
    data: {
      entry: {
        entryId: entry.entryId,
        product,
        sku: entry.sku,
        email: entry.email,
        state: entry.state,
        reason: entry.reason,
        amount: { amount: entry.amount, currency: entry.currency },
        enteredAt: new Date(entry.enteredAt).toISOString(),
        closesAt: new Date(closesAt).toISOString(),
        ...(entry.orderId ? { orderId: entry.orderId } : {}),
      },
    },
  };
}

/**
 * Tells entrants what is new for them, from the draw's alarm: each book's entries with news become a
 * draw event for the shop's webhooks (the webhooks queue, as the order shards send theirs) and an
 * email (to the mailer of the entry's number), then are noted as told. Stopping in between tells
 * them again: the event id and the email id are the same, so each receiver keeps one.
 */
export async function tellEntrants(
  env: Env,
  draw: { product: string; closesAt: number; titles: Record<string, string> },
): Promise<number> {
  const shop = shopIdentity(env);
  const mailers = settings(env).orderShards;
  let told = 0;
  for (let shard = 0; shard < DRAW_SHARDS; shard++) {
    const book = drawBook(env, draw.product, shard);
    const news = await book.notices(NOTICES);
    const events = news.flatMap((entry) => {
      const event = eventOf(draw.product, entry, draw.closesAt);
      return event ? [{ entry, event }] : [];
    });
    if (events.length === 0) continue;
    await env.WEBHOOKS.send({ events: events.map(({ event }) => event) }, { contentType: "json" });
    const byMailer = Map.groupBy(events, ({ entry }) => (shardOfEntry(entry.entryId) ?? 0) % mailers);
    for (const [mailerNo, group] of byMailer) {
      const emails: OutgoingEmail[] = group.map(({ entry, event }) => ({
        ...drawEmailFor(event, shop, {
          title: draw.titles[entry.sku] ?? entry.sku,
          name: entry.name,
          ...(entry.orderId ? { orderToken: drawnOrderToken(env, entry.orderId) } : {}),
        }),
        id: emailId(mailerNo, event.id),
        from: shop.from,
        orderId: entry.entryId,
        event: event.type,
      }));
      await withTimeout(handOver(env, mailerNo, emails), CALL_TIMEOUT_MS);
    }
    await book.told(
      events.map(({ entry, event }) => ({ entryId: entry.entryId, notice: event.data.entry.state })),
    );
    told += events.length;
  }
  return told;
}
