import { emailId, handOver } from "../../email/email.service";
import type { OutgoingEmail } from "../../email/mail.store";
import { shopIdentity } from "../../shared/config";
import { logEvent } from "../../shared/log";
import { BATCH_BYTES, BATCH_MESSAGES, bytesOf, MESSAGE_BYTES, runsBySize } from "../../shared/queue-limits";
import { withTimeout } from "../../shared/timeout";
import type { OrderEvent } from "../events.schemas";
import { emailFor } from "../notify/emails";
import { shardOfOrder } from "../shards";
import type { OutboxName, OutboxStore } from "./outbox.store";

/** A shard hands its events on at most this often, so a sale's events travel in few, full messages. */
const FLUSH_EVERY_MS = 1000;
/** Events one flush takes; a full take is followed by the next at once. */
const FLUSH_EVENTS = 500;
const BACKOFF_CAP_MS = 60_000;

type Row = { seq: number; event: string; token: string | null };

/** Emails per call to a mailer (rendered HTML is a few KB each), and how long the call may take. */
const MAIL_BATCH = 100;
const MAIL_TIMEOUT_MS = 10_000;

/** Hands rows on; answers the seqs handed over (so far, should it throw part-way). */
type Deliver = (rows: Row[], handed: (seqs: number[]) => void) => Promise<void>;

/**
 * Hands an order shard's outbox on to one of its receivers, from the shard's work loop (its alarm),
 * never from checkout or payment: a queue or a mailer that fails only delays the events, with backoff,
 * and nothing else waits on it. The receiver's cursor moves past rows once handed over; dying in between
 * hands them over again, which the receivers take like any duplicate (the event id is the same: webhook
 * receivers deduplicate by it, a mailer keeps one email per event).
 */
export class OutboxFlush {
  readonly #outbox: OutboxStore;
  readonly #name: OutboxName;
  readonly #deliver: Deliver;
  #at = 0;
  #failures = 0;

  constructor(outbox: OutboxStore, name: OutboxName, deliver: Deliver) {
    this.#outbox = outbox;
    this.#name = name;
    this.#deliver = deliver;
  }

  /** When the shard's alarm should come for the outbox, or null when it holds nothing. */
  nextAt(now: number): number | null {
    return this.#outbox.hasPending(this.#name) ? Math.max(now, this.#at) : null;
  }

  /** Hands on what is pending, if its turn has come (`promptly`: now regardless); answers how many. */
  async flush(now: number, promptly = false): Promise<number> {
    if (promptly) this.#at = 0;
    if (now < this.#at) return 0;
    const rows = this.#outbox.pending(FLUSH_EVENTS, this.#name);
    if (rows.length === 0) return 0;
    let sent = 0;
    // The cursor moves over the rows handed so far that have none unhanded before them; rows handed
    // beyond a gap (another mailer's emails, should one fail) are handed again next time, as duplicates.
    const handed = new Set<number>();
    let upTo = 0;
    try {
      await this.#deliver(rows, (seqs) => {
        for (const seq of seqs) handed.add(seq);
        const before = upTo;
        while (upTo < rows.length && handed.has((rows[upTo] as Row).seq)) upTo++;
        if (upTo > before) this.#outbox.handedUpTo((rows[upTo - 1] as Row).seq, this.#name);
        sent += seqs.length;
      });
    } catch (error) {
      this.#failures++;
      const step = Math.min(BACKOFF_CAP_MS, 1000 * 2 ** this.#failures);
      this.#at = Date.now() + Math.round(step / 2 + (Math.random() * step) / 2);
      logEvent(
        "warn",
        `${this.#name === "mail_outbox" ? "emails" : "webhook events"} could not be handed on; will retry`,
        {
          events: rows.length - sent,
          error: String(error),
        },
      );
      return sent;
    }
    this.#failures = 0;
    this.#at = rows.length === FLUSH_EVENTS ? 0 : Date.now() + FLUSH_EVERY_MS;
    return sent;
  }
}

/** Webhook events go to the webhooks queue, as few messages as the queue's limits allow. */
export function toWebhooksQueue(queue: Queue): Deliver {
  return async (rows, handed) => {
    const messages = runsBySize(rows, (row) => bytesOf(row.event), MESSAGE_BYTES, FLUSH_EVENTS).map(
      (run) => ({
        seqs: run.map((row) => row.seq),
        body: { events: run.map((row) => JSON.parse(row.event)) },
        bytes: run.reduce((sum, row) => sum + bytesOf(row.event), 0),
      }),
    );
    for (const batch of runsBySize(messages, (message) => message.bytes, BATCH_BYTES, BATCH_MESSAGES)) {
      await queue.sendBatch(batch.map(({ body }) => ({ body, contentType: "json" as const })));
      handed(batch.flatMap((message) => message.seqs));
    }
  };
}

/**
 * Emails go to the order's mailer (one per shard), rendered here from the event; each keeps the id of
 * its event, so a mailer handed one twice keeps (and sends) it once.
 */
export function toMailer(env: Env): Deliver {
  return async (rows, handed) => {
    const shop = shopIdentity(env);
    const byMailer = new Map<number, { seqs: number[]; emails: OutgoingEmail[] }>();
    for (const row of rows) {
      const event = JSON.parse(row.event) as OrderEvent;
      const mailerNo = shardOfOrder(env, event.data.order.id) ?? 0;
      const group = byMailer.get(mailerNo) ?? { seqs: [], emails: [] };
      group.seqs.push(row.seq);
      const email = emailFor(event, shop, row.token ?? undefined);
      if (email) {
        group.emails.push({
          ...email,
          id: emailId(mailerNo, event.id),
          from: shop.from,
          orderId: event.data.order.id,
          event: event.type,
        });
      }
      byMailer.set(mailerNo, group);
    }
    for (const [mailerNo, { seqs, emails }] of byMailer) {
      for (let at = 0; at < emails.length; at += MAIL_BATCH) {
        await withTimeout(handOver(env, mailerNo, emails.slice(at, at + MAIL_BATCH)), MAIL_TIMEOUT_MS);
      }
      handed(seqs);
    }
  };
}
