import { ulid } from "../../shared/ids";
import type { EventType, OrderEvent } from "../events.schemas";
import type { OrderRow } from "../lifecycle/order";
import { toOrderView } from "../orders.view";

/**
 * An order shard's webhook outbox: each event is written by the shard in the same transaction as the
 * order change that causes it, so an event exists exactly when its change does; the shard's work loop
 * hands the rows to the webhooks queue and deletes them once the queue has them (see outbox.flush.ts).
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
  }

  /** An event about the order as it is now. Its id is made here once: every delivery carries it. */
  add(type: EventType, row: OrderRow, at: number) {
    const event: OrderEvent = {
      id: `evt_${ulid(at)}`,
      type,
      createdAt: new Date(at).toISOString(),
      data: { order: toOrderView(row) },
    };
    this.#sql.exec("INSERT INTO webhook_outbox (event) VALUES (?)", JSON.stringify(event));
  }

  pending(limit: number): { seq: number; event: string }[] {
    return this.#sql
      .exec<{ seq: number; event: string }>(
        "SELECT seq, event FROM webhook_outbox ORDER BY seq LIMIT ?",
        limit,
      )
      .toArray();
  }

  remove(seqs: number[]) {
    this.#sql.exec(
      "DELETE FROM webhook_outbox WHERE seq IN (SELECT value FROM json_each(?))",
      JSON.stringify(seqs),
    );
  }

  hasPending(): boolean {
    return this.#sql.exec("SELECT 1 FROM webhook_outbox LIMIT 1").toArray().length > 0;
  }
}
