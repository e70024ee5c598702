import { ulid } from "../../shared/ids";
import type { OrderEvent } from "../events.schemas";
import type { Announcement } from "../lifecycle/announcements";
import type { OrderRow } from "../lifecycle/order";
import { EMAILED } from "../notify/emails";
import { toOrderView } from "../orders.view";

/** The two outboxes: events for the shop's webhooks, and those its buyers are emailed about. */
export type OutboxName = "webhook_outbox" | "mail_outbox";

/**
 * An order shard's outboxes: each event is written by the shard in the same transaction as the order
 * change that causes it, so an event exists exactly when its change does, once in the webhook outbox
 * and, if the buyer is emailed about it, once in the mail outbox (with the order's token for the email
 * of `order.created`, the one moment the shard has it). The shard's work loop hands each outbox on (to
 * the webhooks queue; to the order's mailer) and deletes rows once handed over (see outbox.flush.ts).
 */
export class OutboxStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /**
   * Created if missing, apart from the shard's versioned migrations: the outbox is this table alone,
   * and keeping it out of that list lets either change without the other.
   */
  create() {
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS webhook_outbox (seq INTEGER PRIMARY KEY, event TEXT NOT NULL)",
    );
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS mail_outbox (seq INTEGER PRIMARY KEY, event TEXT NOT NULL, token TEXT)",
    );
  }

  /** An event about the order as it is now. Its id is made here once: every delivery carries it. */
  add({ type, refund, fulfillment }: Announcement, row: OrderRow, at: number, orderToken?: string) {
    const view = toOrderView(row);
    const event: OrderEvent = {
      id: `evt_${ulid(at)}`,
      type,
      createdAt: new Date(at).toISOString(),
      data: {
        order: view,
        ...(refund ? { refund: view.refunds.find((made) => made.id === refund.id) } : {}),
        ...(fulfillment ? { fulfillment: view.fulfillments.find((made) => made.id === fulfillment.id) } : {}),
      },
    };
    const text = JSON.stringify(event);
    this.#sql.exec("INSERT INTO webhook_outbox (event) VALUES (?)", text);
    if (EMAILED.has(type)) {
      this.#sql.exec("INSERT INTO mail_outbox (event, token) VALUES (?, ?)", text, orderToken ?? null);
    }
  }

  pending(
    limit: number,
    outbox: OutboxName = "webhook_outbox",
  ): { seq: number; event: string; token: string | null }[] {
    const token = outbox === "mail_outbox" ? "token" : "NULL AS token";
    return this.#sql
      .exec<{ seq: number; event: string; token: string | null }>(
        `SELECT seq, event, ${token} FROM ${outbox} ORDER BY seq LIMIT ?`,
        limit,
      )
      .toArray();
  }

  remove(seqs: number[], outbox: OutboxName = "webhook_outbox") {
    this.#sql.exec(
      `DELETE FROM ${outbox} WHERE seq IN (SELECT value FROM json_each(?))`,
      JSON.stringify(seqs),
    );
  }

  hasPending(outbox: OutboxName = "webhook_outbox"): boolean {
    return this.#sql.exec(`SELECT 1 FROM ${outbox} LIMIT 1`).toArray().length > 0;
  }
}
