import type { ShopEvent } from "../orders/protocol";
import { ulid } from "../shared/ids";
import { migrate } from "../shared/sql-schema";
import type { DeadLetterRecord, ListDeadLettersArgs } from "./webhooks.args";
import type { DeadLetter, Endpoint, Subscriptions } from "./webhooks.schemas";

/**
 * The SQLite storage of the webhook registry: the shop's endpoints with their signing secrets, and
 * the deliveries given up on (dead letters). Every method is synchronous, so a read and the write
 * that follows it cannot be interleaved with another request.
 */
const MIGRATIONS = [
  `CREATE TABLE endpoints (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     events TEXT NOT NULL,
     description TEXT,
     enabled INTEGER NOT NULL,
     secret TEXT NOT NULL,
     previous_secret TEXT,
     previous_secret_until INTEGER,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE dead_letters (
     id TEXT PRIMARY KEY,
     endpoint_id TEXT NOT NULL,
     event_id TEXT NOT NULL,
     event TEXT NOT NULL,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     last_status INTEGER,
     last_error TEXT,
     first_attempt_at INTEGER NOT NULL,
     dead_at INTEGER NOT NULL,
     redelivered_at INTEGER,
     delivered_at INTEGER,
     UNIQUE (endpoint_id, event_id)
   );
   CREATE INDEX dead_letters_by_endpoint ON dead_letters (endpoint_id, id);
   CREATE INDEX dead_letters_by_age ON dead_letters (dead_at);`,
];

type RawEndpoint = {
  id: string;
  url: string;
  events: string;
  description: string | null;
  enabled: number;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: number | null;
  created_at: number;
  updated_at: number;
};

type RawLetter = {
  id: string;
  endpoint_id: string;
  event: string;
  state: DeadLetter["state"];
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  first_attempt_at: number;
  dead_at: number;
  redelivered_at: number | null;
  delivered_at: number | null;
};

export type StoredEndpoint = {
  id: string;
  url: string;
  events: Subscriptions;
  description: string | null;
  enabled: boolean;
  secret: string;
  previousSecret: string | null;
  previousSecretUntil: number | null;
};

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function toStored(raw: RawEndpoint): StoredEndpoint {
  return {
    id: raw.id,
    url: raw.url,
    events: JSON.parse(raw.events),
    description: raw.description,
    enabled: raw.enabled === 1,
    secret: raw.secret,
    previousSecret: raw.previous_secret,
    previousSecretUntil: raw.previous_secret_until,
  };
}

function toEndpointView(raw: RawEndpoint): Endpoint {
  return {
    id: raw.id,
    url: raw.url,
    events: JSON.parse(raw.events),
    description: raw.description,
    enabled: raw.enabled === 1,
    secretHint: `…${raw.secret.slice(-4)}`,
    createdAt: iso(raw.created_at),
    updatedAt: iso(raw.updated_at),
  };
}

function toLetterView(raw: RawLetter): DeadLetter {
  return {
    id: raw.id,
    endpointId: raw.endpoint_id,
    state: raw.state,
    event: JSON.parse(raw.event) as ShopEvent,
    attempts: raw.attempts,
    lastStatus: raw.last_status,
    lastError: raw.last_error,
    firstAttemptAt: iso(raw.first_attempt_at),
    deadAt: iso(raw.dead_at),
    redeliveredAt: isoOrNull(raw.redelivered_at),
    deliveredAt: isoOrNull(raw.delivered_at),
  };
}

export type NewEndpoint = Pick<StoredEndpoint, "url" | "events" | "description" | "enabled" | "secret">;
export type EndpointPatch = Partial<Pick<StoredEndpoint, "url" | "events" | "description" | "enabled">>;

export class RegistryStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  migrate() {
    migrate(this.#sql, MIGRATIONS);
  }

  #raw(id: string): RawEndpoint | undefined {
    return this.#sql.exec<RawEndpoint>("SELECT * FROM endpoints WHERE id = ?", id).toArray()[0];
  }

  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM endpoints").one().n;
  }

  insert(endpoint: NewEndpoint, now: number): Endpoint {
    const id = `we_${ulid(now)}`;
    this.#sql.exec(
      `INSERT INTO endpoints (id, url, events, description, enabled, secret, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      endpoint.url,
      JSON.stringify(endpoint.events),
      endpoint.description,
      Number(endpoint.enabled),
      endpoint.secret,
      now,
      now,
    );
    return this.view(id) as Endpoint;
  }

  view(id: string): Endpoint | null {
    const raw = this.#raw(id);
    return raw ? toEndpointView(raw) : null;
  }

  views(): Endpoint[] {
    return this.#sql.exec<RawEndpoint>("SELECT * FROM endpoints ORDER BY id").toArray().map(toEndpointView);
  }

  endpoint(id: string): StoredEndpoint | null {
    const raw = this.#raw(id);
    return raw ? toStored(raw) : null;
  }

  enabledEndpoints(): StoredEndpoint[] {
    return this.#sql
      .exec<RawEndpoint>("SELECT * FROM endpoints WHERE enabled = 1 ORDER BY id")
      .toArray()
      .map(toStored);
  }

  update(id: string, patch: EndpointPatch, now: number): Endpoint | null {
    const current = this.#raw(id);
    if (!current) return null;
    this.#sql.exec(
      "UPDATE endpoints SET url = ?, events = ?, description = ?, enabled = ?, updated_at = ? WHERE id = ?",
      patch.url ?? current.url,
      patch.events ? JSON.stringify(patch.events) : current.events,
      patch.description === undefined ? current.description : patch.description,
      patch.enabled === undefined ? current.enabled : Number(patch.enabled),
      now,
      id,
    );
    return this.view(id);
  }

  /** A new secret; the one it replaces still signs (as a second signature) until `previousUntil`. */
  rotate(id: string, secret: string, previousUntil: number, now: number): Endpoint | null {
    const current = this.#raw(id);
    if (!current) return null;
    const keep = previousUntil > now;
    this.#sql.exec(
      `UPDATE endpoints SET secret = ?, previous_secret = ?, previous_secret_until = ?, updated_at = ?
       WHERE id = ?`,
      secret,
      keep ? current.secret : null,
      keep ? previousUntil : null,
      now,
      id,
    );
    return this.view(id);
  }

  /** Removes an endpoint with its dead letters: nothing could deliver them any more. */
  remove(id: string): boolean {
    const removed = this.#sql.exec("DELETE FROM endpoints WHERE id = ?", id).rowsWritten > 0;
    this.#sql.exec("DELETE FROM dead_letters WHERE endpoint_id = ?", id);
    return removed;
  }

  /**
   * Records deliveries given up on, once per endpoint and event: the same one given up again (a
   * redelivery that failed too, or a consumer that recorded it and then died before its ack) updates
   * its letter rather than adding another.
   */
  recordDead(records: DeadLetterRecord[], now: number) {
    for (const record of records) {
      this.#sql.exec(
        `INSERT INTO dead_letters (id, endpoint_id, event_id, event, state, attempts, last_status, last_error,
           first_attempt_at, dead_at)
         VALUES (?, ?, ?, ?, 'dead', ?, ?, ?, ?, ?)
         ON CONFLICT (endpoint_id, event_id) DO UPDATE SET state = 'dead', attempts = excluded.attempts,
           last_status = excluded.last_status, last_error = excluded.last_error,
           first_attempt_at = excluded.first_attempt_at, dead_at = excluded.dead_at`,
        `wdl_${ulid(now)}`,
        record.endpointId,
        record.event.id,
        JSON.stringify(record.event),
        record.attempts,
        record.lastStatus,
        record.lastError,
        record.firstAttemptAt,
        now,
      );
    }
  }

  letter(id: string): DeadLetter | null {
    const raw = this.#sql.exec<RawLetter>("SELECT * FROM dead_letters WHERE id = ?", id).toArray()[0];
    return raw ? toLetterView(raw) : null;
  }

  /** Newest first, by id (a ULID). */
  letters({ endpointId, state, limit, beforeId }: ListDeadLettersArgs): DeadLetter[] {
    const filters: [string, string][] = [];
    if (endpointId) filters.push(["endpoint_id = ?", endpointId]);
    if (state) filters.push(["state = ?", state]);
    if (beforeId) filters.push(["id < ?", beforeId]);
    const where = filters.length > 0 ? `WHERE ${filters.map(([clause]) => clause).join(" AND ")}` : "";
    return this.#sql
      .exec<RawLetter>(
        `SELECT * FROM dead_letters ${where} ORDER BY id DESC LIMIT ?`,
        ...filters.map(([, value]) => value),
        limit,
      )
      .toArray()
      .map(toLetterView);
  }

  setLetterState(id: string, state: DeadLetter["state"], at: number) {
    const column =
      state === "redelivering" ? "redelivered_at" : state === "delivered" ? "delivered_at" : null;
    this.#sql.exec(
      `UPDATE dead_letters SET state = ?${column ? `, ${column} = ?` : ""} WHERE id = ?`,
      state,
      ...(column ? [at] : []),
      id,
    );
  }

  /** Letters are kept this long after they died, so a registry of a long-broken endpoint stays small. */
  purgeLetters(before: number, limit: number) {
    this.#sql.exec(
      "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE dead_at < ? LIMIT ?)",
      before,
      limit,
    );
  }
}
