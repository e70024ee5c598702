import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { readSales } from "../inventory/inventory.service";
import { AppError } from "../shared/errors";
import { logEvent } from "../shared/log";
import { migrate } from "../shared/sql-schema";
import { binOf } from "./admission";

/** An admitted buyer's pass is good this long after their place in line was admitted. */
export const PASS_TTL_MS = 10 * 60_000;
/** Admitted buyers who have not bought yet may be this many times the units left, no more. */
const ADMIT_PER_UNIT_LEFT = 1.5;
const TICK_MS = 1000;
/** A sold-out room looks this often for units coming back (a failed payment, a restock). */
const SOLD_OUT_TICK_MS = 5000;
/** The published state is computed at most this often, however many isolates ask. */
const STATE_EVERY_MS = 500;

/** A drop's rules as the room needs them: from a join's report, or from the admin change itself. */
export const RoomSettings = z
  .object({
    productId: z.string().min(1).max(64),
    startsAt: z.number().int(),
    admitPerMinute: z.number().int().min(1).max(1_000_000),
    skus: z.array(z.string().min(1).max(64)).min(1).max(50),
    /** The product's version (its updatedAt): settings older than the room's do not change them back. */
    version: z.number().int(),
  })
  .strict();
export type RoomSettings = z.infer<typeof RoomSettings>;

export const RoomReport = RoomSettings.extend({
  tickets: z.array(z.tuple([z.number().min(0), z.string().regex(/^[0-9a-f]{64}$/)])).max(10_000),
}).strict();
export type RoomReport = z.infer<typeof RoomReport>;

/** What the edge needs to answer every waiting buyer without asking again for a second. */
export type RoomState = {
  startsAt: number | null;
  admitPerMinute: number;
  soldOut: boolean;
  /** When the drop last sold out: the passes given before it are spent (null: never). */
  soldOutAt: number | null;
  /** Every place ranked at or below this is admitted (-1: nobody yet). */
  threshold: number;
  /** Each tick's threshold and time: a ticket's pass expires PASS_TTL_MS after the first covering it. */
  steps: [number, number][];
  /** Places taken, cumulated over rank bins in order: positions in line, without a call each. */
  cumulative: [number, number][];
  joined: number;
  admitted: number;
  /** Units of the drop still available when the room last looked. */
  unitsLeft: number;
  /** Units and orders sold since the room first looked (a stock take resets neither). */
  unitsSold: number;
  buyers: number;
};

type Config = {
  product_id: string;
  starts_at: number;
  admit_per_minute: number;
  skus: string;
  version: number;
};

type Room = {
  credit: number;
  ticked_at: number;
  threshold: number;
  sold_out: number;
  sold_out_at: number | null;
  units_left: number;
  units_sold: number;
  bought: number;
};

/** Each entry upgrades the room's schema by one version; applied in order, once, in the constructor. */
const MIGRATIONS = [
  `CREATE TABLE IF NOT EXISTS config (id INTEGER PRIMARY KEY CHECK (id = 1), product_id TEXT NOT NULL,
     starts_at INTEGER NOT NULL, admit_per_minute INTEGER NOT NULL, skus TEXT NOT NULL,
     version INTEGER NOT NULL);
   CREATE TABLE IF NOT EXISTS tickets (customer TEXT PRIMARY KEY, rank REAL NOT NULL);
   CREATE INDEX IF NOT EXISTS tickets_rank ON tickets (rank);
   CREATE TABLE IF NOT EXISTS steps (at INTEGER NOT NULL, upto REAL NOT NULL, admitted INTEGER NOT NULL,
     sold INTEGER NOT NULL);
   CREATE TABLE IF NOT EXISTS room (id INTEGER PRIMARY KEY CHECK (id = 1), credit REAL NOT NULL,
     ticked_at INTEGER NOT NULL, threshold REAL NOT NULL, sold_out INTEGER NOT NULL,
     units_left INTEGER NOT NULL, units_sold INTEGER NOT NULL);
   INSERT OR IGNORE INTO room (id, credit, ticked_at, threshold, sold_out, units_left, units_sold)
     VALUES (1, 0, 0, -1, 0, 0, 0);`,
  // A customer may hold several places over time (one in line at a time). Each step records the
  // orders bought by then (null for steps from before orders were counted); the orders are counted
  // from the SKUs' ledgers, which no stock take resets, read on from a cursor per bucket.
  `CREATE TABLE places (customer TEXT NOT NULL, rank REAL NOT NULL, PRIMARY KEY (customer, rank));
   INSERT INTO places (customer, rank) SELECT customer, rank FROM tickets;
   DROP TABLE tickets;
   CREATE INDEX places_rank ON places (rank);
   CREATE TABLE admissions (at INTEGER NOT NULL, upto REAL NOT NULL, admitted INTEGER NOT NULL, bought INTEGER);
   INSERT INTO admissions (at, upto, admitted) SELECT at, upto, admitted FROM steps;
   DROP TABLE steps;
   ALTER TABLE admissions RENAME TO steps;
   ALTER TABLE room ADD COLUMN bought INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE room ADD COLUMN sold_out_at INTEGER;
   UPDATE room SET units_sold = 0;
   CREATE TABLE cursors (sku TEXT NOT NULL, bucket INTEGER NOT NULL, seq INTEGER NOT NULL,
     PRIMARY KEY (sku, bucket));
   CREATE TABLE sales (order_id TEXT PRIMARY KEY, units INTEGER NOT NULL);`,
];

/** The drop's stock summed over its SKUs, with what they sold since the room last looked. */
type Stock = {
  onHand: number;
  available: number;
  cursors: { sku: string; bucket: number; seq: number }[];
  sold: { orderId: string; units: number }[];
  returned: string[];
};

/**
 * The places a report adds, before the table says which are new: every ticket whose place the line
 * has passed (each is a pass the edge shows, so each is counted), and of the waiting ones only each
 * customer's first (one place in line at a time).
 */
function placesOf(tickets: RoomReport["tickets"], threshold: number): RoomReport["tickets"] {
  const passed: RoomReport["tickets"] = [];
  const waiting = new Map<string, number>();
  for (const [rank, customer] of tickets) {
    if (rank <= threshold) passed.push([rank, customer]);
    else if (rank < (waiting.get(customer) ?? Number.POSITIVE_INFINITY)) waiting.set(customer, rank);
  }
  return [...passed, ...[...waiting].map(([customer, rank]): [number, string] => [rank, customer])];
}

/**
 * One drop's waiting room (one object per product). It never sees a request per buyer: the edge
 * signs tickets and hands their ranks here in batches, about once a second per isolate, and answers
 * positions from the state this object publishes. From the start, its alarm admits the line in rank
 * order (the shuffled prequeue first, then later arrivals in order of arrival), each second as many
 * as the drop's rate allows, but never more admitted buyers who have not bought (and whose passes
 * may still be used) than ADMIT_PER_UNIT_LEFT times the units left; once every SKU of the drop is
 * sold out, it tells everyone at once, and that sellout spends every pass given before it.
 *
 * Buyers are counted as orders: the orders sold, read from the SKUs' ledgers, which no stock take
 * resets. A customer holds one place in line at a time; once their place was admitted, joining again
 * takes a new place at the back, admitted and counted in its turn.
 */
export class WaitingRoom extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #published: { at: number; state: RoomState } | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => migrate(this.#sql, MIGRATIONS));
  }

  #config(): Config | null {
    return this.#sql.exec<Config>("SELECT * FROM config").toArray()[0] ?? null;
  }

  #room(): Room {
    return this.#sql.exec<Room>("SELECT * FROM room").one();
  }

  /**
   * Takes the drop's settings unless the room has newer ones; answers the start they leave. A start
   * moved later moves the admissions already made with it: their passes run from the new start, and
   * the room counts them from there. Called inside a transaction.
   */
  #adopt(settings: RoomSettings): number {
    const before = this.#config();
    this.#sql.exec(
      `INSERT INTO config (id, product_id, starts_at, admit_per_minute, skus, version) VALUES (1, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at,
         admit_per_minute = excluded.admit_per_minute, skus = excluded.skus, version = excluded.version
       WHERE excluded.version >= config.version`,
      settings.productId,
      settings.startsAt,
      settings.admitPerMinute,
      JSON.stringify(settings.skus),
      settings.version,
    );
    const after = this.#config() as Config;
    if (before && after.starts_at > before.starts_at) {
      this.#sql.exec("UPDATE steps SET at = ? WHERE at < ?", after.starts_at, after.starts_at);
    }
    return after.starts_at;
  }

  /** Ticks at the start (or now, if it has passed) unless a tick is due sooner. */
  async #armBy(startsAt: number) {
    const due = Math.max(Date.now(), startsAt);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > due) await this.ctx.storage.setAlarm(due);
  }

  /**
   * Tickets issued at the edge since its last report (rank and customer), with the drop's settings
   * as that isolate knows them (kept only if not older than what the room has). A customer waiting in
   * line keeps the place they have; one whose place was admitted takes a new one. A ticket whose place
   * the line has already passed (a join that came late, a place the edge shows admitted) is admitted
   * now and counted, once.
   */
  async report(input: RoomReport): Promise<void> {
    const report = RoomReport.parse(input);
    const startsAt = this.ctx.storage.transactionSync(() => {
      const startsAt = this.#adopt(report);
      const room = this.#room();
      const added = this.#sql
        .exec<{ rank: number }>(
          `INSERT INTO places (customer, rank)
           SELECT t.value->>1, t.value->>0 FROM json_each(?) AS t
           WHERE t.value->>0 <= ? OR NOT EXISTS
             (SELECT 1 FROM places p WHERE p.customer = t.value->>1 AND p.rank > ?)
           ON CONFLICT (customer, rank) DO NOTHING RETURNING rank`,
          JSON.stringify(placesOf(report.tickets, room.threshold)),
          room.threshold,
          room.threshold,
        )
        .toArray();
      const passed = added.filter(({ rank }) => rank <= room.threshold).length;
      if (passed > 0) {
        this.#sql.exec(
          "INSERT INTO steps (at, upto, admitted, bought) VALUES (?, ?, ?, ?)",
          Date.now(),
          room.threshold,
          passed,
          room.bought,
        );
      }
      this.#published = null;
      return startsAt;
    });
    await this.#armBy(startsAt);
  }

  /**
   * The drop's rules changed (an admin write): a room with a line takes them at once, whether or not
   * anyone joins again. A room nobody joined yet has nothing to change (the first join brings them).
   */
  async configure(input: RoomSettings): Promise<void> {
    const settings = RoomSettings.parse(input);
    const startsAt = this.ctx.storage.transactionSync(() => (this.#config() ? this.#adopt(settings) : null));
    this.#published = null;
    if (startsAt !== null) await this.#armBy(startsAt);
  }

  state(): RoomState {
    const now = Date.now();
    if (this.#published && now - this.#published.at < STATE_EVERY_MS) return this.#published.state;
    const config = this.#config();
    const room = this.#room();
    const bins = new Map<number, number>();
    for (const { rank } of this.#sql.exec<{ rank: number }>("SELECT rank FROM places ORDER BY rank")) {
      const bin = binOf(rank);
      bins.set(bin, (bins.get(bin) ?? 0) + 1);
    }
    let joined = 0;
    const cumulative: [number, number][] = [];
    for (const [bin, count] of bins) {
      joined += count;
      cumulative.push([bin, joined]);
    }
    // The earliest step covering a rank is when it was admitted (a late one counted after shares its upto).
    const steps = this.#sql
      .exec<{ at: number; upto: number }>("SELECT at, upto FROM steps ORDER BY upto, at")
      .toArray()
      .map(({ at, upto }): [number, number] => [upto, at]);
    const admitted =
      this.#sql.exec<{ n: number | null }>("SELECT SUM(admitted) AS n FROM steps").one().n ?? 0;
    const state: RoomState = {
      startsAt: config?.starts_at ?? null,
      admitPerMinute: config?.admit_per_minute ?? 0,
      soldOut: room.sold_out === 1,
      soldOutAt: room.sold_out_at,
      threshold: room.threshold,
      steps,
      cumulative,
      joined,
      admitted,
      unitsLeft: room.units_left,
      unitsSold: room.units_sold,
      buyers: room.bought,
    };
    this.#published = { at: now, state };
    return state;
  }

  /** Admits the next of the line, as far as the rate and the units left allow, and ticks again. */
  override async alarm() {
    const config = this.#config();
    if (!config) return;
    if (Date.now() < config.starts_at) {
      await this.ctx.storage.setAlarm(config.starts_at);
      return;
    }
    const stock = await this.#stock(JSON.parse(config.skus) as string[]);
    const now = Date.now();
    this.#published = null;
    // Sold out: nothing available and nothing held that a failed payment could give back. A restock
    // (or units coming back) opens the room again; it keeps looking, more slowly.
    const soldOut = stock !== null && stock.onHand === 0;
    this.ctx.storage.transactionSync(() => {
      if (stock) this.#count(stock, soldOut, now);
      // A start moved later while the stock was read: nobody is admitted before it.
      const startsAt = this.#config()?.starts_at ?? config.starts_at;
      if (!soldOut && now >= startsAt) this.#admit(stock, now);
    });
    await this.ctx.storage.setAlarm(now + (soldOut ? SOLD_OUT_TICK_MS : TICK_MS));
  }

  /**
   * Takes in what the stock read says: the orders sold (an order sold in several buckets once, with
   * all its units) and given back, where to read on from, the units left, and whether it sold out now.
   */
  #count(stock: Stock, soldOut: boolean, now: number) {
    let bought = 0;
    let units = 0;
    for (const { orderId, units: taken } of stock.sold) {
      const known = this.#sql.exec("SELECT 1 FROM sales WHERE order_id = ?", orderId).toArray().length > 0;
      if (known) this.#sql.exec("UPDATE sales SET units = units + ? WHERE order_id = ?", taken, orderId);
      else this.#sql.exec("INSERT INTO sales (order_id, units) VALUES (?, ?)", orderId, taken);
      bought += known ? 0 : 1;
      units += taken;
    }
    for (const orderId of new Set(stock.returned)) {
      const sale = this.#sql
        .exec<{ units: number }>("DELETE FROM sales WHERE order_id = ? RETURNING units", orderId)
        .toArray()[0];
      if (sale) {
        bought -= 1;
        units -= sale.units;
      }
    }
    for (const { sku, bucket, seq } of stock.cursors) {
      this.#sql.exec(
        `INSERT INTO cursors (sku, bucket, seq) VALUES (?, ?, ?)
         ON CONFLICT (sku, bucket) DO UPDATE SET seq = excluded.seq`,
        sku,
        bucket,
        seq,
      );
    }
    this.#sql.exec(
      `UPDATE room SET bought = bought + ?, units_sold = units_sold + ?, units_left = ?,
         sold_out_at = CASE WHEN ? = 1 AND sold_out = 0 THEN ? ELSE sold_out_at END, sold_out = ?`,
      bought,
      units,
      stock.available,
      soldOut ? 1 : 0,
      now,
      soldOut ? 1 : 0,
    );
  }

  /** This second's admissions: as many as the rate's credit and the cap on passes outstanding allow. */
  #admit(stock: Stock | null, now: number) {
    const config = this.#config() as Config;
    const room = this.#room();
    const since = room.ticked_at === 0 ? TICK_MS : Math.min(now - room.ticked_at, 60_000);
    const perTick = config.admit_per_minute / 60;
    // Credit builds at the rate; while nobody waits, only up to a tick's worth and a bit (so a rate
    // that is not a whole number a second still adds up over the minute).
    let credit = Math.min(room.credit + (config.admit_per_minute / 60_000) * since, perTick + 1);
    // Passes that may still be used: given within their lifetime, and after the last sellout (which
    // spent every pass before it). Of those buyers, the ones who bought since are served.
    const from = Math.max(now - PASS_TTL_MS, room.sold_out_at ?? Number.NEGATIVE_INFINITY);
    const window = this.#sql
      .exec<{ admitted: number | null; bought: number | null }>(
        "SELECT SUM(admitted) AS admitted, MIN(bought) AS bought FROM steps WHERE at > ?",
        from,
      )
      .one();
    const boughtSince = window.bought === null ? 0 : Math.max(0, room.bought - window.bought);
    const outstanding = Math.max(0, (window.admitted ?? 0) - boughtSince);
    const roomFor =
      stock === null ? 0 : Math.max(0, Math.floor(stock.available * ADMIT_PER_UNIT_LEFT) - outstanding);
    const take = Math.floor(Math.min(credit, roomFor));
    if (take > 0) {
      const ranks = this.#sql
        .exec<{ rank: number }>(
          "SELECT rank FROM places WHERE rank > ? ORDER BY rank LIMIT ?",
          room.threshold,
          take,
        )
        .toArray();
      const last = ranks.at(-1);
      if (last) {
        this.#sql.exec(
          "INSERT INTO steps (at, upto, admitted, bought) VALUES (?, ?, ?, ?)",
          now,
          last.rank,
          ranks.length,
          room.bought,
        );
        this.#sql.exec("UPDATE room SET threshold = ?", last.rank);
        credit -= ranks.length;
      }
    }
    this.#sql.exec("UPDATE room SET credit = ?, ticked_at = ?", credit, now);
  }

  /**
   * The drop's units summed over its SKUs, with the orders sold since the room last looked (a variant
   * never stocked has none); null when some SKU cannot be read (then nobody is admitted this second).
   * The first look starts every ledger where it stands; a bucket or SKU stocked later is read whole.
   */
  async #stock(skus: string[]): Promise<Stock | null> {
    const cursors = this.#sql
      .exec<{ sku: string; bucket: number; seq: number }>("SELECT sku, bucket, seq FROM cursors")
      .toArray();
    const unseen = cursors.length === 0 ? null : 0;
    try {
      const reads = await Promise.all(
        skus.map(async (sku) => {
          const mine: number[] = [];
          for (const cursor of cursors) if (cursor.sku === sku) mine[cursor.bucket] = cursor.seq;
          try {
            return { sku, read: await readSales(this.env, sku, mine, unseen) };
          } catch (error) {
            if (error instanceof AppError && error.code === "sku_not_found") return { sku, read: null };
            throw error;
          }
        }),
      );
      const stock: Stock = { onHand: 0, available: 0, cursors: [], sold: [], returned: [] };
      for (const { sku, read } of reads) {
        if (!read) continue;
        stock.onHand += read.onHand;
        stock.available += read.available;
        stock.cursors.push(...read.cursors.map((seq, bucket) => ({ sku, bucket, seq })));
        stock.sold.push(...read.sold);
        stock.returned.push(...read.returned);
      }
      return stock;
    } catch (error) {
      logEvent("warn", "waiting room could not read the stock; admits nobody this second", {
        error: String(error),
      });
      return null;
    }
  }
}
