import { migrate } from "../shared/sql-schema";

/** An email to send, rendered: the same id (and Message-ID) however often it is handed over. */
export type OutgoingEmail = {
  /** Stable per cause (the order event's id): an email handed over twice is kept, and sent, once. */
  id: string;
  to: string;
  from: string;
  replyTo?: string;
  subject: string;
  text: string;
  html: string;
  /** What caused it, for the operator's search: the order and the event type. */
  orderId: string;
  event: string;
};

export type EmailStatus = "queued" | "sending" | "sent" | "dead";

export type StoredEmail = OutgoingEmail & {
  status: EmailStatus;
  attempts: number;
  messageId: string;
  sentAt: string | null;
  lastError: string | null;
  createdAt: string;
};

const MIGRATIONS = [
  `CREATE TABLE emails (
     id TEXT PRIMARY KEY,
     to_address TEXT NOT NULL,
     order_id TEXT NOT NULL,
     event TEXT NOT NULL,
     message TEXT NOT NULL,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     due_at INTEGER,
     sent_at INTEGER,
     last_error TEXT,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX emails_due ON emails (due_at) WHERE due_at IS NOT NULL;
   CREATE INDEX emails_to ON emails (to_address, created_at);
   CREATE INDEX emails_order ON emails (order_id, created_at);
   CREATE INDEX emails_status ON emails (status, created_at);`,
];

type Row = {
  id: string;
  to_address: string;
  order_id: string;
  event: string;
  message: string;
  status: EmailStatus;
  attempts: number;
  due_at: number | null;
  sent_at: number | null;
  last_error: string | null;
  created_at: number;
};

/** The Message-ID an email carries every time it is sent: receivers see one email per cause. */
export function messageIdOf(email: Pick<OutgoingEmail, "id" | "from">): string {
  const domain = email.from.split("@")[1]?.replace(/[>\s]/g, "") || "stampede.invalid";
  return `<${email.id}@${domain}>`;
}

function toEmail(row: Row): StoredEmail {
  const message = JSON.parse(row.message) as OutgoingEmail;
  return {
    ...message,
    status: row.status,
    attempts: row.attempts,
    messageId: messageIdOf(message),
    sentAt: row.sent_at === null ? null : new Date(row.sent_at).toISOString(),
    lastError: row.last_error,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** A mailer's SQLite: every email it was handed, what became of it, and when it is next due. */
export class MailStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  migrate() {
    migrate(this.#sql, MIGRATIONS);
  }

  /** Keeps emails not kept before (by id); answers how many were new. */
  add(emails: OutgoingEmail[], now: number): number {
    let added = 0;
    for (const email of emails) {
      added += this.#sql
        .exec(
          `INSERT INTO emails (id, to_address, order_id, event, message, status, due_at, created_at)
         VALUES (?, ?, ?, ?, ?, 'queued', ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id`,
          email.id,
          email.to.toLowerCase(),
          email.orderId,
          email.event,
          JSON.stringify(email),
          now,
          now,
        )
        .toArray().length;
    }
    return added;
  }

  /** Emails due now (queued, or a send that never came back), oldest first. */
  due(now: number, limit: number): StoredEmail[] {
    return this.#sql
      .exec<Row>("SELECT * FROM emails WHERE due_at <= ? ORDER BY due_at LIMIT ?", now, limit)
      .toArray()
      .map(toEmail);
  }

  /** Taken for a send: counted, and due again after `leaseUntil` should no answer come back. */
  sending(id: string, leaseUntil: number) {
    this.#sql.exec(
      "UPDATE emails SET status = 'sending', attempts = attempts + 1, due_at = ? WHERE id = ?",
      leaseUntil,
      id,
    );
  }

  sent(id: string, now: number) {
    this.#sql.exec(
      "UPDATE emails SET status = 'sent', due_at = NULL, sent_at = ?, last_error = NULL WHERE id = ?",
      now,
      id,
    );
  }

  failed(id: string, error: string, dueAt: number | null) {
    this.#sql.exec(
      "UPDATE emails SET status = ?, due_at = ?, last_error = ? WHERE id = ?",
      dueAt === null ? "dead" : "queued",
      dueAt,
      error.slice(0, 500),
      id,
    );
  }

  /** A dead email queued again, at once; answers whether there was one. */
  redeliver(id: string, now: number): boolean {
    return (
      this.#sql.exec(
        "UPDATE emails SET status = 'queued', attempts = 0, due_at = ? WHERE id = ? AND status = 'dead'",
        now,
        id,
      ).rowsWritten > 0
    );
  }

  get(id: string): StoredEmail | null {
    const row = this.#sql.exec<Row>("SELECT * FROM emails WHERE id = ?", id).toArray()[0];
    return row ? toEmail(row) : null;
  }

  list(filter: { to?: string; orderId?: string; status?: EmailStatus; limit: number }): StoredEmail[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.to) {
      where.push("to_address = ?");
      args.push(filter.to.toLowerCase());
    }
    if (filter.orderId) {
      where.push("order_id = ?");
      args.push(filter.orderId);
    }
    if (filter.status) {
      where.push("status = ?");
      args.push(filter.status);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    return this.#sql
      .exec<Row>(
        `SELECT * FROM emails ${clause} ORDER BY created_at DESC, id DESC LIMIT ?`,
        ...args,
        filter.limit,
      )
      .toArray()
      .map(toEmail);
  }

  nextDue(): number | null {
    // IS NOT NULL: answered from the partial index emails_due, not by scanning every kept email.
    return this.#sql
      .exec<{ next: number | null }>("SELECT MIN(due_at) AS next FROM emails WHERE due_at IS NOT NULL")
      .one().next;
  }

  counts(): Record<EmailStatus, number> {
    const counts: Record<EmailStatus, number> = { queued: 0, sending: 0, sent: 0, dead: 0 };
    for (const row of this.#sql
      .exec<{ status: EmailStatus; n: number }>("SELECT status, COUNT(*) AS n FROM emails GROUP BY status")
      .toArray())
      counts[row.status] = row.n;
    return counts;
  }

  /** Forgets emails older than `before` that are settled (sent, or dead and left), a batch at a time. */
  prune(before: number, limit: number): number {
    return this.#sql.exec(
      `DELETE FROM emails WHERE id IN (SELECT id FROM emails WHERE created_at < ? AND due_at IS NULL LIMIT ?)`,
      before,
      limit,
    ).rowsWritten;
  }
}
