import { logEvent } from "../../shared/log";
import { RESEND_AFTER_MS } from "../lifecycle/timing";

/** Accepted orders are gathered this long into one queue message per shard. */
const FLUSH_DELAY_MS = 100;
/** Orders one queue message hands on: the queue's own limit is 128 KB a message. */
const MESSAGE_ORDERS = 200;

/**
 * Hands a shard's orders to the payments queue: those checkout accepts are gathered for a moment into
 * one message; those whose due time came again (a lost message, a retry) go at once. A lost send is not
 * lost work: each order's due time hands it on again.
 */
export class HandOn {
  readonly #queue: Queue;
  #unsent: string[] = [];
  #flushing: ReturnType<typeof setTimeout> | null = null;

  constructor(queue: Queue) {
    this.#queue = queue;
  }

  /**
   * Queues an accepted order for the next message, a moment from now, with the others accepted
   * meanwhile; answers when to hand it on again if the consumer has not taken it by then. The moment
   * is kept in memory only: if this instance goes, the due time covers it.
   */
  soon(orderId: string, now: number): number {
    this.#unsent.push(orderId);
    this.#flushing ??= setTimeout(() => {
      this.#flushing = null;
      void this.send(this.#unsent.splice(0));
    }, FLUSH_DELAY_MS);
    return now + RESEND_AFTER_MS;
  }

  async send(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += MESSAGE_ORDERS) {
      const orders = ids.slice(i, i + MESSAGE_ORDERS);
      await this.#queue.send({ orders }).catch((error: unknown) =>
        logEvent("warn", "payment hand-on failed; will resend", {
          orders: orders.length,
          error: String(error),
        }),
      );
    }
  }
}
