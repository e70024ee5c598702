import type { SkuHold } from "../../inventory/inventory.holds";
import { migrate } from "../../shared/sql-schema";

/**
 * Where a draw stands: `pooling` (its units being held), `short` (the stock was not there: nothing is
 * held, the draw cannot run), `open` (its units held; entries taken in their window), `closing` (the
 * books being frozen and their lists gathered), `sealed` (the frozen list's digest published; the
 * seed not yet), `drawing` (the seed revealed; winners being charged in rank order), `drawn`;
 * `cancelled` (by the shop, or a beacon that never came, before the walk: everyone lost, units back).
 */
export type DrawPhase =
  | "pooling"
  | "short"
  | "open"
  | "closing"
  | "sealed"
  | "drawing"
  | "drawn"
  | "cancelled";

/** What came of an entry of the frozen list in the draw. */
export type Outcome = "capturing" | "won" | "passed" | "lost";

export type DrawRow = {
  setup: string;
  seed: string;
  commitment: string;
  phase: DrawPhase;
  detail: string | null;
  digestRoot: string | null;
  digestCount: number | null;
  revealAt: number | null;
  beaconRandomness: string | null;
  /** When it was cancelled, and whether the catalog shows it so yet. */
  cancelledAt: number | null;
  cancelShown: boolean;
  /** And shown once more after every admin write that raced the cancel must have ended. */
  cancelShownAgain: boolean;
  /** The catalog's writes of the cancel that failed in a row, and when to try the next (kept: an object evicted between tries keeps its backoff). */
  showFailures: number;
  showRetryAt: number | null;
  origin: string | null;
};

export type RankedRow = {
  entryId: string;
  sku: string;
  rank: number;
  outcome: Outcome | null;
  slot: string | null;
};

const MIGRATIONS = [
  `CREATE TABLE draw (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     setup TEXT NOT NULL,
     seed TEXT NOT NULL,
     commitment TEXT NOT NULL,
     phase TEXT NOT NULL,
     detail TEXT,
     digest_root TEXT,
     digest_count INTEGER,
     reveal_at INTEGER,
     beacon_randomness TEXT,
     created_at INTEGER NOT NULL
   )`,
  // One slot per unit drawn, named by the order it will become: held for the draw from its setup.
  `CREATE TABLE slots (
     order_id TEXT PRIMARY KEY,
     sku TEXT NOT NULL,
     hold TEXT,
     state TEXT NOT NULL DEFAULT 'wanted',
     entry_id TEXT
   )`,
  "CREATE INDEX slots_state ON slots (state, sku)",
  // The frozen list, gathered from the books after the close; ranked once the seed is revealed.
  `CREATE TABLE entries (
     entry_id TEXT PRIMARY KEY,
     sku TEXT NOT NULL,
     rank INTEGER,
     outcome TEXT,
     slot TEXT,
     told INTEGER NOT NULL DEFAULT 0
   )`,
  "CREATE INDEX entries_rank ON entries (rank) WHERE rank IS NOT NULL",
  "CREATE TABLE gathered (shard INTEGER PRIMARY KEY, cursor TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0)",
  // A cancel is shown in the catalog (D1) by the draw's alarm until that write lands; `origin` names
  // the shop's address for the catalog's edge cache keys (the admin request's).
  "ALTER TABLE draw ADD COLUMN cancelled_at INTEGER",
  "ALTER TABLE draw ADD COLUMN cancel_shown INTEGER NOT NULL DEFAULT 0",
  "ALTER TABLE draw ADD COLUMN origin TEXT",
  // A draw cancelled before the time was kept: cancelled now, as far as the catalog is told.
  "UPDATE draw SET cancelled_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE phase = 'cancelled' AND cancelled_at IS NULL",
  // cancel_shown: 0 not yet, 1 shown, 2 shown again once every admin write racing the cancel has ended.
  "ALTER TABLE draw ADD COLUMN show_failures INTEGER NOT NULL DEFAULT 0",
  "ALTER TABLE draw ADD COLUMN show_retry_at INTEGER",
];

type RawRanked = {
  entry_id: string;
  sku: string;
  rank: number;
  outcome: Outcome | null;
  slot: string | null;
};
const ranked = (raw: RawRanked): RankedRow => ({
  entryId: raw.entry_id,
  sku: raw.sku,
  rank: raw.rank,
  outcome: raw.outcome,
  slot: raw.slot,
});

/** A draw object's SQLite: its settings and seed, its slots, its frozen and ranked list. */
export class DrawStore {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  migrate() {
    migrate(this.#sql, MIGRATIONS);
  }

  draw(): DrawRow | null {
    const raw = this.#sql
      .exec<{
        setup: string;
        seed: string;
        commitment: string;
        phase: DrawPhase;
        detail: string | null;
        digest_root: string | null;
        digest_count: number | null;
        reveal_at: number | null;
        beacon_randomness: string | null;
        cancelled_at: number | null;
        cancel_shown: number;
        origin: string | null;
        show_failures: number;
        show_retry_at: number | null;
      }>("SELECT * FROM draw WHERE id = 1")
      .toArray()[0];
    return raw
      ? {
          setup: raw.setup,
          seed: raw.seed,
          commitment: raw.commitment,
          phase: raw.phase,
          detail: raw.detail,
          digestRoot: raw.digest_root,
          digestCount: raw.digest_count,
          revealAt: raw.reveal_at,
          beaconRandomness: raw.beacon_randomness,
          cancelledAt: raw.cancelled_at,
          cancelShown: raw.cancel_shown >= 1,
          cancelShownAgain: raw.cancel_shown === 2,
          origin: raw.origin,
          showFailures: raw.show_failures,
          showRetryAt: raw.show_retry_at,
        }
      : null;
  }

  create(
    setup: string,
    seed: string,
    commitment: string,
    slots: { orderId: string; sku: string }[],
    now: number,
  ) {
    this.#sql.exec(
      "INSERT INTO draw (id, setup, seed, commitment, phase, created_at) VALUES (1, ?, ?, ?, 'pooling', ?)",
      setup,
      seed,
      commitment,
      now,
    );
    for (const slot of slots)
      this.#sql.exec("INSERT INTO slots (order_id, sku) VALUES (?, ?)", slot.orderId, slot.sku);
  }

  /** Forgets a draw that held nothing (a short one), for a new setup. */
  reset() {
    for (const table of ["draw", "slots", "entries", "gathered"]) this.#sql.exec(`DELETE FROM ${table}`);
  }

  /**
   * Moves the draw from phase `from` to `phase`; answers false, changing nothing, if it is no longer
   * in `from` (a step that awaited while the shop cancelled the draw must not undo the cancel).
   */
  setPhase(phase: DrawPhase, from: DrawPhase, detail: string | null = null): boolean {
    return (
      this.#sql.exec("UPDATE draw SET phase = ?, detail = ? WHERE id = 1 AND phase = ?", phase, detail, from)
        .rowsWritten > 0
    );
  }

  /** Cancels the draw from phase `from` (see setPhase), noting when, for the catalog to show. */
  cancel(from: DrawPhase, detail: string, now: number): boolean {
    return (
      this.#sql.exec(
        "UPDATE draw SET phase = 'cancelled', detail = ?, cancelled_at = ?, cancel_shown = 0 WHERE id = 1 AND phase = ?",
        detail,
        now,
        from,
      ).rowsWritten > 0
    );
  }

  /** The catalog shows the cancel now. */
  cancelShown(republishAt: number) {
    this.#sql.exec(
      "UPDATE draw SET cancel_shown = 1, show_failures = 0, show_retry_at = ? WHERE id = 1 AND phase = 'cancelled' AND cancel_shown = 0",
      republishAt,
    );
  }

  /** The catalog's write of the cancel failed again: tried next at `retryAt`. */
  cancelShowFailed(failures: number, retryAt: number) {
    this.#sql.exec("UPDATE draw SET show_failures = ?, show_retry_at = ? WHERE id = 1", failures, retryAt);
  }

  /** Notes when a cancelled draw that lacks the time was cancelled (the first time asked). */
  noteCancelledAt(at: number) {
    this.#sql.exec(
      "UPDATE draw SET cancelled_at = ? WHERE id = 1 AND phase = 'cancelled' AND cancelled_at IS NULL",
      at,
    );
  }

  /** The catalog was shown the cancel again, after the writes that raced it. */
  cancelShownAgain() {
    this.#sql.exec("UPDATE draw SET cancel_shown = 2 WHERE id = 1 AND phase = 'cancelled'");
  }

  /** The shop's address, for the catalog's edge cache keys (kept from the latest admin request). */
  setOrigin(origin: string) {
    this.#sql.exec("UPDATE draw SET origin = ? WHERE id = 1", origin);
  }

  seal(root: string, count: number, revealAt: number): boolean {
    return (
      this.#sql.exec(
        "UPDATE draw SET phase = 'sealed', digest_root = ?, digest_count = ?, reveal_at = ? WHERE id = 1 AND phase = 'closing'",
        root,
        count,
        revealAt,
      ).rowsWritten > 0
    );
  }

  setBeaconRandomness(randomness: string) {
    this.#sql.exec("UPDATE draw SET beacon_randomness = ? WHERE id = 1", randomness);
  }

  // ── slots ──

  wantedSlots(limit: number): { orderId: string; sku: string }[] {
    return this.#sql
      .exec<{ order_id: string; sku: string }>(
        "SELECT order_id, sku FROM slots WHERE state = 'wanted' LIMIT ?",
        limit,
      )
      .toArray()
      .map((raw) => ({ orderId: raw.order_id, sku: raw.sku }));
  }

  slotHeld(orderId: string, holds: SkuHold[]) {
    this.#sql.exec(
      "UPDATE slots SET hold = ?, state = 'held' WHERE order_id = ?",
      JSON.stringify(holds),
      orderId,
    );
  }

  /** Slots held and given to no entry (`free`), or every slot still holding stock for the draw. */
  heldSlots(which: "free" | "all"): { orderId: string; sku: string; holds: SkuHold[] }[] {
    const where = which === "free" ? "state = 'held'" : "state IN ('held', 'assigned')";
    return this.#sql
      .exec<{ order_id: string; sku: string; hold: string }>(
        `SELECT order_id, sku, hold FROM slots WHERE ${where}`,
      )
      .toArray()
      .map((raw) => ({ orderId: raw.order_id, sku: raw.sku, holds: JSON.parse(raw.hold) as SkuHold[] }));
  }

  slot(orderId: string): { orderId: string; sku: string; holds: SkuHold[]; state: string } | null {
    const raw = this.#sql
      .exec<{ order_id: string; sku: string; hold: string; state: string }>(
        "SELECT order_id, sku, hold, state FROM slots WHERE order_id = ?",
        orderId,
      )
      .toArray()[0];
    return raw
      ? { orderId: raw.order_id, sku: raw.sku, holds: JSON.parse(raw.hold) as SkuHold[], state: raw.state }
      : null;
  }

  /** Slots never held, fenced against a hold that lands late: nothing of theirs was given back. */
  fenceSlots(orderIds: string[]) {
    for (const id of orderIds) this.#sql.exec("UPDATE slots SET state = 'fenced' WHERE order_id = ?", id);
  }

  releaseSlots(orderIds: string[]) {
    for (const id of orderIds) this.#sql.exec("UPDATE slots SET state = 'released' WHERE order_id = ?", id);
  }

  passedCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM entries WHERE outcome = 'passed'").one()
      .n;
  }

  slotCount(state: string): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM slots WHERE state = ?", state).one().n;
  }

  // ── the frozen list ──

  gathered(shard: number): { cursor: string; done: boolean } | null {
    const raw = this.#sql
      .exec<{ cursor: string; done: number }>("SELECT cursor, done FROM gathered WHERE shard = ?", shard)
      .toArray()[0];
    return raw ? { cursor: raw.cursor, done: raw.done === 1 } : null;
  }

  gather(shard: number, entries: { entryId: string; sku: string }[], cursor: string, done: boolean) {
    for (const entry of entries) {
      this.#sql.exec("INSERT OR IGNORE INTO entries (entry_id, sku) VALUES (?, ?)", entry.entryId, entry.sku);
    }
    this.#sql.exec(
      "INSERT INTO gathered (shard, cursor, done) VALUES (?, ?, ?) ON CONFLICT (shard) DO UPDATE SET cursor = excluded.cursor, done = excluded.done",
      shard,
      cursor,
      done ? 1 : 0,
    );
  }

  /** The frozen list in its order (entry id, byte order: SQLite's BINARY collation). */
  frozenList(after = "", limit = Number.MAX_SAFE_INTEGER): { entryId: string; sku: string }[] {
    return this.#sql
      .exec<{ entry_id: string; sku: string }>(
        "SELECT entry_id, sku FROM entries WHERE entry_id > ? ORDER BY entry_id LIMIT ?",
        after,
        limit,
      )
      .toArray()
      .map((raw) => ({ entryId: raw.entry_id, sku: raw.sku }));
  }

  entryCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM entries").one().n;
  }

  setRanks(ranks: string[]) {
    for (const [rank, entryId] of ranks.entries()) {
      this.#sql.exec("UPDATE entries SET rank = ? WHERE entry_id = ?", rank, entryId);
    }
  }

  // ── the walk ──

  /** Entries not yet decided, in rank order, of SKUs in `skus`. */
  undecided(skus: string[], limit: number): RankedRow[] {
    if (skus.length === 0) return [];
    return this.#sql
      .exec<RawRanked>(
        `SELECT entry_id, sku, rank, outcome, slot FROM entries
           WHERE rank IS NOT NULL AND outcome IS NULL AND sku IN (${skus.map(() => "?").join(", ")})
           ORDER BY rank LIMIT ?`,
        ...skus,
        limit,
      )
      .toArray()
      .map(ranked);
  }

  withOutcome(outcome: Outcome, limit = Number.MAX_SAFE_INTEGER): RankedRow[] {
    return this.#sql
      .exec<RawRanked>(
        "SELECT entry_id, sku, rank, outcome, slot FROM entries WHERE outcome = ? ORDER BY rank LIMIT ?",
        outcome,
        limit,
      )
      .toArray()
      .map(ranked);
  }

  /** Gives a free slot of the entry's SKU to it, for its capture: both written before the call. */
  assign(entryId: string, slot: string) {
    this.#sql.exec("UPDATE slots SET state = 'assigned', entry_id = ? WHERE order_id = ?", entryId, slot);
    this.#sql.exec("UPDATE entries SET outcome = 'capturing', slot = ? WHERE entry_id = ?", slot, entryId);
  }

  won(entryId: string, slot: string) {
    this.#sql.exec("UPDATE slots SET state = 'won' WHERE order_id = ?", slot);
    this.#sql.exec("UPDATE entries SET outcome = 'won' WHERE entry_id = ?", entryId);
  }

  /** The capture failed: the entry is passed over and its slot is free for the next in rank. */
  passed(entryId: string, slot: string) {
    this.#sql.exec("UPDATE slots SET state = 'held', entry_id = NULL WHERE order_id = ?", slot);
    this.#sql.exec("UPDATE entries SET outcome = 'passed', slot = NULL WHERE entry_id = ?", entryId);
  }

  /** Every entry still undecided loses: no unit of its SKU is left for it. */
  loseTheRest(): number {
    return this.#sql.exec("UPDATE entries SET outcome = 'lost' WHERE rank IS NOT NULL AND outcome IS NULL")
      .rowsWritten;
  }

  /** Entries decided but not yet told to their books (`told` = 0), a page at a time. */
  untold(limit: number): RankedRow[] {
    return this.#sql
      .exec<RawRanked>(
        "SELECT entry_id, sku, rank, outcome, slot FROM entries WHERE outcome IN ('passed', 'lost') AND told = 0 LIMIT ?",
        limit,
      )
      .toArray()
      .map(ranked);
  }

  markTold(entryIds: string[]) {
    for (const id of entryIds) this.#sql.exec("UPDATE entries SET told = 1 WHERE entry_id = ?", id);
  }
}
