import { ulid } from "../../shared/ids";
import type { OrderEvent } from "../events.schemas";
import type { Announcement } from "../lifecycle/announcements";
import type { OrderRow } from "../lifecycle/order";
import { toOrderView } from "../orders.view";

/** The outbox's two receivers: the shop's webhooks, and its buyers' emails. */
export type OutboxName = "webhook_outbox" | "mail_outbox";

/**
 * An order shard's outbox: each event is written by the shard in the same transaction as the order
 * change that causes it, so an event exists exactly when its change does. It is written once (with the
 * order's token for the email of `order.created`, the one moment the shard has it) and handed on to
 * both receivers (to the webhooks queue; to the order's mailer, which emails the buyer about every
 * event, see emails.ts), each reading the outbox in order past a cursor of its own; a row goes once
 * both cursors have passed it (see outbox.flush.ts). The table keeps its old name, webhook_outbox.
 */
export class OutboxStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /**
   * Created if missing, apart from the shard's versioned migrations, in the caller's transaction. A
   * shard from before the one outbox kept a copy of every event for the mailer in `mail_outbox`:
   * those copies move in below seq 0, where the mail cursor starts and the webhooks' does not reach,
   * so each is emailed once more (the event rows above 0 too: a mailer keeps one email per event id,
   * and a copy, with its token, comes first) and none goes to the webhooks twice.
   */
  create() {
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS webhook_outbox (seq INTEGER PRIMARY KEY, event TEXT NOT NULL)",
    );
    const has = (table: string) =>
      this.#sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table).toArray()
        .length > 0;
    if (has("outbox_cursors")) return;
    this.#sql.exec("ALTER TABLE webhook_outbox ADD COLUMN token TEXT");
    this.#sql.exec("CREATE TABLE outbox_cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
    if (has("mail_outbox")) {
      this.#sql.exec(
        `INSERT INTO webhook_outbox (seq, event, token)
         SELECT seq - (SELECT MAX(seq) FROM mail_outbox) - 1, event, token FROM mail_outbox`,
      );
      this.#sql.exec("DROP TABLE mail_outbox");
    }
    this.#sql.exec(
      `INSERT INTO outbox_cursors (name, seq) VALUES ('webhook_outbox', 0),
         ('mail_outbox', MIN(0, (SELECT IFNULL(MIN(seq), 0) FROM webhook_outbox) - 1))`,
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
    // Past every cursor, even once the table has emptied (a rowid alone would start again at 1).
    this.#sql.exec(
      `INSERT INTO webhook_outbox (seq, event, token) VALUES (MAX(
         (SELECT IFNULL(MAX(seq), 0) FROM webhook_outbox), (SELECT MAX(seq) FROM outbox_cursors)) + 1, ?, ?)`,
      JSON.stringify(event),
      orderToken ?? null,
    );
  }

  /** The oldest events `outbox`'s receiver has not been handed yet. */
  pending(
    limit: number,
    outbox: OutboxName = "webhook_outbox",
  ): { seq: number; event: string; token: string | null }[] {
    // The token goes to the mailer alone.
    const token = outbox === "mail_outbox" ? "token" : "NULL AS token";
    return this.#sql
      .exec<{ seq: number; event: string; token: string | null }>(
        `SELECT seq, event, ${token} FROM webhook_outbox
         WHERE seq > (SELECT seq FROM outbox_cursors WHERE name = ?) ORDER BY seq LIMIT ?`,
        outbox,
        limit,
      )
      .toArray();
  }

  /**
   * `outbox`'s receiver has been handed every event up to `seq`: its cursor moves there (never back),
   * and the events both receivers have been handed go.
   */
  handedUpTo(seq: number, outbox: OutboxName = "webhook_outbox") {
    this.#sql.exec("UPDATE outbox_cursors SET seq = MAX(seq, ?) WHERE name = ?", seq, outbox);
    this.#sql.exec("DELETE FROM webhook_outbox WHERE seq <= (SELECT MIN(seq) FROM outbox_cursors)");
  }

  hasPending(outbox: OutboxName = "webhook_outbox"): boolean {
    return (
      this.#sql
        .exec(
          "SELECT 1 FROM webhook_outbox WHERE seq > (SELECT seq FROM outbox_cursors WHERE name = ?) LIMIT 1",
          outbox,
        )
        .toArray().length > 0
    );
  }
}
