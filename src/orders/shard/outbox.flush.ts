import { logEvent } from "../../shared/log";
import { BATCH_BYTES, BATCH_MESSAGES, bytesOf, MESSAGE_BYTES, runsBySize } from "../../shared/queue-limits";
import type { OutboxStore } from "./outbox.store";

/** A shard hands its events on at most this often, so a sale's events travel in few, full messages. */
const FLUSH_EVERY_MS = 1000;
/** Events one flush takes; a full take is followed by the next at once. */
const FLUSH_EVENTS = 500;
const BACKOFF_CAP_MS = 60_000;

type Outgoing = { seqs: number[]; body: { events: unknown[] }; bytes: number };

/**
 * Hands an order shard's outbox to the webhooks queue, from the shard's work loop (its alarm), never
 * from checkout or payment: a queue that fails only delays the events, with backoff, and nothing else
 * waits on it. Rows are deleted once the queue has them; dying in between sends them again, which
 * receivers handle like any duplicate (the event id is the same).
 */
export class OutboxFlush {
  readonly #outbox: OutboxStore;
  readonly #queue: Queue;
  #at = 0;
  #failures = 0;

  constructor(outbox: OutboxStore, queue: Queue) {
    this.#outbox = outbox;
    this.#queue = queue;
  }

  /** When the shard's alarm should come for the outbox, or null when it holds nothing. */
  nextAt(now: number): number | null {
    return this.#outbox.hasPending() ? Math.max(now, this.#at) : null;
  }

  /** Sends what is pending, if its turn has come (`promptly`: now regardless); answers how many. */
  async flush(now: number, promptly = false): Promise<number> {
    if (promptly) this.#at = 0;
    if (now < this.#at) return 0;
    const rows = this.#outbox.pending(FLUSH_EVENTS);
    if (rows.length === 0) return 0;
    const messages: Outgoing[] = runsBySize(
      rows,
      (row) => bytesOf(row.event),
      MESSAGE_BYTES,
      FLUSH_EVENTS,
    ).map((run) => ({
      seqs: run.map((row) => row.seq),
      body: { events: run.map((row) => JSON.parse(row.event)) },
      bytes: run.reduce((sum, row) => sum + bytesOf(row.event), 0),
    }));
    let sent = 0;
    try {
      for (const batch of runsBySize(messages, (message) => message.bytes, BATCH_BYTES, BATCH_MESSAGES)) {
        await this.#queue.sendBatch(batch.map(({ body }) => ({ body, contentType: "json" as const })));
        const seqs = batch.flatMap((message) => message.seqs);
        this.#outbox.remove(seqs);
        sent += seqs.length;
      }
    } catch (error) {
      this.#failures++;
      const step = Math.min(BACKOFF_CAP_MS, 1000 * 2 ** this.#failures);
      this.#at = Date.now() + Math.round(step / 2 + (Math.random() * step) / 2);
      logEvent("warn", "webhook events could not be queued; will retry", {
        events: rows.length - sent,
        error: String(error),
      });
      return sent;
    }
    this.#failures = 0;
    this.#at = rows.length === FLUSH_EVENTS ? 0 : Date.now() + FLUSH_EVERY_MS;
    return sent;
  }
}
