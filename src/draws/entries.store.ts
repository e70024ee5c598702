import type { CartPricing } from "../pricing/pricing.quote";
import { migrate } from "../shared/sql-schema";

/**
 * One shard of a draw's entry book: the entries of the customers whose key falls to it, and the
 * card claims of the cards whose fingerprint falls to it. An entry is one customer's one chance:
 *
 * - `pending`: claimed for the customer; its authorization is not yet known to have succeeded;
 * - `entered`: its authorization succeeded before the book froze: it is in the draw;
 * - `withdrawn`: the buyer took it back before the close;
 * - `void`: it never entered (declined, its card already in the draw, the close came first);
 * - `won`: the draw captured its authorization; `lost`: the draw is over for it without a unit.
 *
 * Two obligations outlive an entry that leaves the draw, each a column the sweeper works off:
 * `auth` = `owed` while an authorization may be held at the gateway and must be cancelled, and
 * `card` = `held` while a card claim may hold the card for it. Both are set before the call that
 * could create what they stand for, so a crash between any two steps leaves something to repair,
 * never a hold nobody knows of.
 *
 * The book freezes once: at the close (by this object's clock) or when the draw asks, whichever
 * comes first. From then on no entry enters, withdraws or changes its sku, so the frozen list read
 * afterwards is final.
 */
export type EntryState = "pending" | "entered" | "withdrawn" | "void" | "won" | "lost";
type AuthDuty = "none" | "maybe" | "owed" | "done";
type CardDuty = "none" | "held" | "released";

/** One bucket of the entries over time: its start (ms) and what happened in it. */
export type TimelineBucket = { at: number; entered: number; withdrawn: number };

export type DrawWindow = { product: string; opensAt: number; closesAt: number };

export type EntryRow = {
  entryId: string;
  customer: string;
  email: string;
  name: string | null;
  address: Record<string, string> | null;
  sku: string;
  /** What is authorized, and captured should the entry win: its pricing's total. */
  amount: number;
  currency: string;
  /**
   * How the entry was priced, as a checkout of its unit to its address (shipping, tax), when it
   * entered; kept so a winner is charged and recorded as it entered, whatever the settings say by
   * then. Null for an entry made before entries were priced: its unit price alone.
   */
  pricing: CartPricing | null;
  token: string;
  keyHash: string;
  bodyHash: string;
  state: EntryState;
  reason: string | null;
  auth: AuthDuty;
  intentId: string | null;
  authExpiresAt: number | null;
  chargeId: string | null;
  /** A winner's order (the unit it won, sold to it). */
  orderId: string | null;
  fingerprint: string | null;
  card: CardDuty;
  createdAt: number;
  /** When a request last carried the entry on: the sweep settles a pending entry only long after it. */
  touchedAt: number;
  enteredAt: number | null;
  leftAt: number | null;
};

type Raw = {
  entry_id: string;
  customer: string;
  email: string;
  name: string | null;
  address: string | null;
  sku: string;
  amount: number;
  currency: string;
  pricing: string | null;
  token: string;
  key_hash: string;
  body_hash: string;
  state: EntryState;
  reason: string | null;
  auth: AuthDuty;
  intent_id: string | null;
  auth_expires_at: number | null;
  charge_id: string | null;
  order_id: string | null;
  fingerprint: string | null;
  card: CardDuty;
  created_at: number;
  touched_at: number | null;
  entered_at: number | null;
  left_at: number | null;
};

const MIGRATIONS = [
  `CREATE TABLE book (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     product TEXT NOT NULL,
     opens_at INTEGER NOT NULL,
     closes_at INTEGER NOT NULL,
     frozen_at INTEGER
   )`,
  `CREATE TABLE entries (
     entry_id TEXT PRIMARY KEY,
     customer TEXT NOT NULL,
     email TEXT NOT NULL,
     name TEXT,
     address TEXT,
     sku TEXT NOT NULL,
     amount INTEGER NOT NULL,
     currency TEXT NOT NULL,
     token TEXT NOT NULL,
     key_hash TEXT NOT NULL,
     body_hash TEXT NOT NULL,
     state TEXT NOT NULL,
     reason TEXT,
     auth TEXT NOT NULL DEFAULT 'none',
     intent_id TEXT,
     auth_expires_at INTEGER,
     charge_id TEXT,
     order_id TEXT,
     fingerprint TEXT,
     card TEXT NOT NULL DEFAULT 'none',
     created_at INTEGER NOT NULL,
     entered_at INTEGER,
     left_at INTEGER
   )`,
  // One live entry per customer: a withdrawn or void one leaves room for a new attempt.
  "CREATE UNIQUE INDEX entries_live_customer ON entries (customer) WHERE state IN ('pending', 'entered')",
  "CREATE INDEX entries_key ON entries (key_hash)",
  // What the sweeper must still do: cancel an authorization, release a card claim, settle a pending.
  `CREATE INDEX entries_duties ON entries (created_at)
     WHERE auth IN ('maybe', 'owed') AND state != 'entered' OR card = 'held' AND state IN ('withdrawn', 'void')
        OR state = 'pending'`,
  `CREATE TABLE cards (
     fingerprint TEXT PRIMARY KEY,
     entry_id TEXT NOT NULL,
     claimed_at INTEGER NOT NULL
   )`,
  // What the entrant was last told (draw.entered, then draw.won or draw.lost): see `notices`.
  "ALTER TABLE entries ADD COLUMN told TEXT",
  `CREATE INDEX entries_notices ON entries (created_at)
     WHERE state IN ('entered', 'won', 'lost') AND told IS NULL OR state IN ('won', 'lost') AND told = 'entered'`,
  "ALTER TABLE entries ADD COLUMN touched_at INTEGER",
  // Claims given back: an entry's claim that arrives after its release (its request was slow) is refused.
  "CREATE TABLE released_claims (fingerprint TEXT NOT NULL, entry_id TEXT NOT NULL, PRIMARY KEY (fingerprint, entry_id))",
  // The ops view's entries over time: entries by when they entered, withdrawals by when they left.
  "CREATE INDEX entries_entered_at ON entries (entered_at)",
  "CREATE INDEX entries_withdrawn_at ON entries (left_at) WHERE state = 'withdrawn' AND entered_at IS NOT NULL",
  // An entry's pricing (JSON, see EntryRow.pricing); rows from before it have none.
  "ALTER TABLE entries ADD COLUMN pricing TEXT",
  // The operator's counts (by state, and the authorizations) read this small index, not the table's rows.
  // SQLite has no statistics here and would take it for queries that have better indexes: those name
  // theirs (INDEXED BY) or keep off it (`+state`).
  "CREATE INDEX entries_state_auth ON entries (state, auth)",
];

const toRow = (raw: Raw): EntryRow => ({
  entryId: raw.entry_id,
  customer: raw.customer,
  email: raw.email,
  name: raw.name,
  address: raw.address ? (JSON.parse(raw.address) as Record<string, string>) : null,
  sku: raw.sku,
  amount: raw.amount,
  currency: raw.currency,
  pricing: raw.pricing ? (JSON.parse(raw.pricing) as CartPricing) : null,
  token: raw.token,
  keyHash: raw.key_hash,
  bodyHash: raw.body_hash,
  state: raw.state,
  reason: raw.reason,
  auth: raw.auth,
  intentId: raw.intent_id,
  authExpiresAt: raw.auth_expires_at,
  chargeId: raw.charge_id,
  orderId: raw.order_id,
  fingerprint: raw.fingerprint,
  card: raw.card,
  createdAt: raw.created_at,
  touchedAt: raw.touched_at ?? raw.created_at,
  enteredAt: raw.entered_at,
  leftAt: raw.left_at,
});

export class EntryStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  migrate() {
    migrate(this.#sql, MIGRATIONS);
  }

  window(): (DrawWindow & { frozenAt: number | null }) | null {
    const row = this.#sql
      .exec<{ product: string; opens_at: number; closes_at: number; frozen_at: number | null }>(
        "SELECT product, opens_at, closes_at, frozen_at FROM book WHERE id = 1",
      )
      .toArray()[0];
    return row
      ? { product: row.product, opensAt: row.opens_at, closesAt: row.closes_at, frozenAt: row.frozen_at }
      : null;
  }

  /** The window this book was opened with; a draw's window never changes once it has entries. */
  open(window: DrawWindow) {
    this.#sql.exec(
      "INSERT INTO book (id, product, opens_at, closes_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
      window.product,
      window.opensAt,
      window.closesAt,
    );
  }

  freeze(now: number) {
    this.#sql.exec("UPDATE book SET frozen_at = ? WHERE id = 1 AND frozen_at IS NULL", now);
  }

  entry(entryId: string): EntryRow | null {
    const raw = this.#sql.exec<Raw>("SELECT * FROM entries WHERE entry_id = ?", entryId).toArray()[0];
    return raw ? toRow(raw) : null;
  }

  liveEntryOf(customer: string): EntryRow | null {
    const raw = this.#sql
      .exec<Raw>("SELECT * FROM entries WHERE customer = ? AND state IN ('pending', 'entered')", customer)
      .toArray()[0];
    return raw ? toRow(raw) : null;
  }

  entryByKey(keyHash: string): EntryRow | null {
    const raw = this.#sql
      .exec<Raw>("SELECT * FROM entries WHERE key_hash = ? ORDER BY created_at DESC LIMIT 1", keyHash)
      .toArray()[0];
    return raw ? toRow(raw) : null;
  }

  insert(row: EntryRow) {
    this.#sql.exec(
      `INSERT INTO entries (entry_id, customer, email, name, address, sku, amount, currency, token, key_hash, body_hash,
         state, reason, auth, intent_id, auth_expires_at, charge_id, order_id, fingerprint, card, created_at, entered_at,
         left_at, touched_at, pricing)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      row.entryId,
      row.customer,
      row.email,
      row.name,
      row.address === null ? null : JSON.stringify(row.address),
      row.sku,
      row.amount,
      row.currency,
      row.token,
      row.keyHash,
      row.bodyHash,
      row.state,
      row.reason,
      row.auth,
      row.intentId,
      row.authExpiresAt,
      row.chargeId,
      row.orderId,
      row.fingerprint,
      row.card,
      row.createdAt,
      row.enteredAt,
      row.leftAt,
      row.touchedAt,
      row.pricing === null ? null : JSON.stringify(row.pricing),
    );
  }

  /** Writes an entry's changed fields (the whole row: one statement, whatever changed). */
  update(row: EntryRow) {
    this.#sql.exec(
      `UPDATE entries SET state = ?, reason = ?, auth = ?, intent_id = ?, auth_expires_at = ?, charge_id = ?,
         order_id = ?, fingerprint = ?, card = ?, entered_at = ?, left_at = ?, touched_at = ? WHERE entry_id = ?`,
      row.state,
      row.reason,
      row.auth,
      row.intentId,
      row.authExpiresAt,
      row.chargeId,
      row.orderId,
      row.fingerprint,
      row.card,
      row.enteredAt,
      row.leftAt,
      row.touchedAt,
      row.entryId,
    );
  }

  /**
   * Entries with something left to do, oldest first (see the index `entries_duties`): those that left
   * the draw owing a cancel or a card release, and those pending since before `staleBefore`.
   */
  duties(limit: number, staleBefore: number): EntryRow[] {
    return this.#sql
      .exec<Raw>(
        `SELECT * FROM entries INDEXED BY entries_duties
           WHERE (auth IN ('maybe', 'owed') AND state != 'entered' OR card = 'held' AND state IN ('withdrawn', 'void')
              OR state = 'pending')
             AND (state != 'pending' OR COALESCE(touched_at, created_at) < ?)
           ORDER BY created_at LIMIT ?`,
        staleBefore,
        limit,
      )
      .toArray()
      .map(toRow);
  }

  /**
   * Entries whose entrant has something new to be told: that they are in the draw, or how it came
   * out for them (an entry whose result came before its first notice is told the result alone).
   */
  notices(limit: number): EntryRow[] {
    return this.#sql
      .exec<Raw>(
        `SELECT * FROM entries INDEXED BY entries_notices
           WHERE state IN ('entered', 'won', 'lost') AND told IS NULL OR state IN ('won', 'lost') AND told = 'entered'
           ORDER BY created_at LIMIT ?`,
        limit,
      )
      .toArray()
      .map(toRow);
  }

  /** Notes what an entrant was told (never back: a result told stays told). */
  told(entryId: string, notice: "entered" | "won" | "lost") {
    this.#sql.exec(
      "UPDATE entries SET told = ? WHERE entry_id = ? AND (told IS NULL OR told = 'entered')",
      notice,
      entryId,
    );
  }

  /** The frozen list: entries in the draw (entered, and later won or lost) in entry id order, after `cursor`. */
  enteredAfter(cursor: string, limit: number): { entryId: string; sku: string }[] {
    return this.#sql
      .exec<{ entry_id: string; sku: string }>(
        // `+state`: walked by the primary key, never through the (state, auth) index (a sort of them all).
        "SELECT entry_id, sku FROM entries WHERE +state IN ('entered', 'won', 'lost') AND entry_id > ? ORDER BY entry_id LIMIT ?",
        cursor,
        limit,
      )
      .toArray()
      .map((raw) => ({ entryId: raw.entry_id, sku: raw.sku }));
  }

  counts(): Record<EntryState, number> {
    const counts: Record<EntryState, number> = {
      pending: 0,
      entered: 0,
      withdrawn: 0,
      void: 0,
      won: 0,
      lost: 0,
    };
    for (const row of this.#sql
      .exec<{ state: EntryState; n: number }>("SELECT state, COUNT(*) AS n FROM entries GROUP BY state")
      .toArray()) {
      counts[row.state] = row.n;
    }
    return counts;
  }

  /**
   * Entries that entered, and entries withdrawn after entering, per bucket of `stepMs` (buckets start
   * at whole multiples of it) in [from, to): one GROUP BY over the two indexes made for it. Only
   * buckets with something in them are answered.
   */
  timeline(from: number, to: number, stepMs: number): TimelineBucket[] {
    return this.#sql
      .exec<{ at: number; entered: number; withdrawn: number }>(
        `SELECT at, SUM(entered) AS entered, SUM(withdrawn) AS withdrawn FROM (
           SELECT CAST(entered_at / ? AS INTEGER) * ? AS at, 1 AS entered, 0 AS withdrawn FROM entries
             WHERE entered_at >= ? AND entered_at < ?
           UNION ALL
           SELECT CAST(left_at / ? AS INTEGER) * ?, 0, 1 FROM entries INDEXED BY entries_withdrawn_at
             WHERE state = 'withdrawn' AND entered_at IS NOT NULL AND left_at >= ? AND left_at < ?
         ) GROUP BY at ORDER BY at`,
        stepMs,
        stepMs,
        from,
        to,
        stepMs,
        stepMs,
        from,
        to,
      )
      .toArray()
      .map((row) => ({ at: row.at, entered: row.entered, withdrawn: row.withdrawn }));
  }

  /**
   * The entrants' authorizations: released (no longer held: cancelled at the gateway, or found failed
   * or never made there once it was in doubt), and still to cancel (owed by entries that left the
   * draw, or in doubt for one that never entered: the sweep's work left).
   */
  authorizations(): { released: number; toCancel: number } {
    const row = this.#sql
      .exec<{ released: number | null; to_cancel: number | null }>(
        `SELECT SUM(auth = 'done') AS released,
                SUM(auth IN ('maybe', 'owed') AND state NOT IN ('pending', 'entered')) AS to_cancel
           FROM entries`,
      )
      .one();
    return { released: row.released ?? 0, toCancel: row.to_cancel ?? 0 };
  }

  cardHolder(fingerprint: string): string | null {
    return (
      this.#sql
        .exec<{ entry_id: string }>("SELECT entry_id FROM cards WHERE fingerprint = ?", fingerprint)
        .toArray()[0]?.entry_id ?? null
    );
  }

  /** Whether this entry's claim of the card was given back already (it may never claim it again). */
  claimReleased(fingerprint: string, entryId: string): boolean {
    return (
      this.#sql
        .exec("SELECT 1 FROM released_claims WHERE fingerprint = ? AND entry_id = ?", fingerprint, entryId)
        .toArray().length > 0
    );
  }

  claimCard(fingerprint: string, entryId: string, now: number) {
    this.#sql.exec(
      "INSERT INTO cards (fingerprint, entry_id, claimed_at) VALUES (?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
      fingerprint,
      entryId,
      now,
    );
  }

  releaseCard(fingerprint: string, entryId: string) {
    this.#sql.exec("DELETE FROM cards WHERE fingerprint = ? AND entry_id = ?", fingerprint, entryId);
    this.#sql.exec(
      "INSERT INTO released_claims (fingerprint, entry_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
      fingerprint,
      entryId,
    );
  }
}
