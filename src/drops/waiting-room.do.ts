import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { readCounts } from "../inventory/inventory.service";
import { AppError } from "../shared/errors";
import { logEvent } from "../shared/log";
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

export const RoomReport = z
  .object({
    productId: z.string().min(1).max(64),
    startsAt: z.number().int(),
    admitPerMinute: z.number().int().min(1).max(1_000_000),
    skus: z.array(z.string().min(1).max(64)).min(1).max(50),
    /** The product's version (its updatedAt): a report from an isolate with an older copy of it does
     * not change the room's settings back. */
    version: z.number().int(),
    tickets: z.array(z.tuple([z.number().min(0), z.string().regex(/^[0-9a-f]{64}$/)])).max(10_000),
  })
  .strict();
export type RoomReport = z.infer<typeof RoomReport>;

/** What the edge needs to answer every waiting buyer without asking again for a second. */
export type RoomState = {
  startsAt: number | null;
  admitPerMinute: number;
  soldOut: boolean;
  /** Every ticket ranked at or below this is admitted (-1: nobody yet). */
  threshold: number;
  /** Each tick's threshold and time: a ticket's pass expires PASS_TTL_MS after the first covering it. */
  steps: [number, number][];
  /** Tickets joined, cumulated over rank bins in order: positions in line, without a call each. */
  cumulative: [number, number][];
  joined: number;
  admitted: number;
  /** Units of the drop still available, and sold since its last stock take, when the room last looked. */
  unitsLeft: number;
  unitsSold: number;
};

type Config = {
  product_id: string;
  starts_at: number;
  admit_per_minute: number;
  skus: string;
  version: number;
};

/**
 * One drop's waiting room (one object per product). It never sees a request per buyer: the edge
 * signs tickets and hands their ranks here in batches, about once a second per isolate, and answers
 * positions from the state this object publishes. From the start, its alarm admits the line in rank
 * order (the shuffled prequeue first, then later arrivals in order of arrival), each second as many
 * as the drop's rate allows, but never more admitted and not yet expired than ADMIT_PER_UNIT_LEFT
 * times the units left; once every SKU of the drop is sold out, it tells everyone at once.
 */
export class WaitingRoom extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #published: { at: number; state: RoomState } | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS config (id INTEGER PRIMARY KEY CHECK (id = 1), product_id TEXT NOT NULL,
          starts_at INTEGER NOT NULL, admit_per_minute INTEGER NOT NULL, skus TEXT NOT NULL,
          version INTEGER NOT NULL);
        -- One place per customer: the first they took.
        CREATE TABLE IF NOT EXISTS tickets (customer TEXT PRIMARY KEY, rank REAL NOT NULL);
        CREATE INDEX IF NOT EXISTS tickets_rank ON tickets (rank);
        CREATE TABLE IF NOT EXISTS steps (at INTEGER NOT NULL, upto REAL NOT NULL, admitted INTEGER NOT NULL,
          sold INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS room (id INTEGER PRIMARY KEY CHECK (id = 1), credit REAL NOT NULL,
          ticked_at INTEGER NOT NULL, threshold REAL NOT NULL, sold_out INTEGER NOT NULL,
          units_left INTEGER NOT NULL, units_sold INTEGER NOT NULL);
        INSERT OR IGNORE INTO room (id, credit, ticked_at, threshold, sold_out, units_left, units_sold)
          VALUES (1, 0, 0, -1, 0, 0, 0);
      `);
    });
  }

  #config(): Config | null {
    return this.#sql.exec<Config>("SELECT * FROM config").toArray()[0] ?? null;
  }

  /**
   * Tickets issued at the edge since its last report (rank and customer), with the drop's settings
   * as that isolate knows them (kept only if not older than what the room has). A customer's first
   * place stands. A ticket whose place the line has already passed is admitted now and counted.
   */
  async report(input: RoomReport): Promise<void> {
    const report = RoomReport.parse(input);
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO config (id, product_id, starts_at, admit_per_minute, skus, version) VALUES (1, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at,
           admit_per_minute = excluded.admit_per_minute, skus = excluded.skus, version = excluded.version
         WHERE excluded.version >= config.version`,
        report.productId,
        report.startsAt,
        report.admitPerMinute,
        JSON.stringify(report.skus),
        report.version,
      );
      const added = this.#sql
        .exec<{ rank: number }>(
          `INSERT INTO tickets (rank, customer) SELECT value->>0, value->>1 FROM json_each(?) WHERE true
           ON CONFLICT (customer) DO NOTHING RETURNING rank`,
          JSON.stringify(report.tickets),
        )
        .toArray();
      const { threshold } = this.#sql.exec<{ threshold: number }>("SELECT threshold FROM room").one();
      const passed = added.filter(({ rank }) => rank <= threshold).length;
      if (passed > 0) {
        this.#sql.exec(
          `INSERT INTO steps (at, upto, admitted, sold)
           VALUES (?, ?, ?, COALESCE((SELECT sold FROM steps ORDER BY at DESC LIMIT 1), 0))`,
          Date.now(),
          threshold,
          passed,
        );
      }
    });
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Math.max(Date.now(), this.#config()?.starts_at ?? report.startsAt));
    }
  }

  state(): RoomState {
    const now = Date.now();
    if (this.#published && now - this.#published.at < STATE_EVERY_MS) return this.#published.state;
    const config = this.#config();
    const room = this.#sql
      .exec<{ threshold: number; sold_out: number; units_left: number; units_sold: number }>(
        "SELECT * FROM room",
      )
      .one();
    const bins = new Map<number, number>();
    for (const { rank } of this.#sql.exec<{ rank: number }>("SELECT rank FROM tickets ORDER BY rank")) {
      const bin = binOf(rank);
      bins.set(bin, (bins.get(bin) ?? 0) + 1);
    }
    let joined = 0;
    const cumulative: [number, number][] = [];
    for (const [bin, count] of bins) {
      joined += count;
      cumulative.push([bin, joined]);
    }
    const steps = this.#sql
      .exec<{ at: number; upto: number }>("SELECT at, upto FROM steps ORDER BY upto")
      .toArray()
      .map(({ at, upto }): [number, number] => [upto, at]);
    const admitted =
      this.#sql.exec<{ n: number | null }>("SELECT SUM(admitted) AS n FROM steps").one().n ?? 0;
    const state: RoomState = {
      startsAt: config?.starts_at ?? null,
      admitPerMinute: config?.admit_per_minute ?? 0,
      soldOut: room.sold_out === 1,
      threshold: room.threshold,
      steps,
      cumulative,
      joined,
      admitted,
      unitsLeft: room.units_left,
      unitsSold: room.units_sold,
    };
    this.#published = { at: now, state };
    return state;
  }

  /** Admits the next of the line, as far as the rate and the units left allow, and ticks again. */
  override async alarm() {
    const config = this.#config();
    if (!config) return;
    const now = Date.now();
    if (now < config.starts_at) {
      await this.ctx.storage.setAlarm(config.starts_at);
      return;
    }
    const stock = await this.#stock(JSON.parse(config.skus) as string[]);
    this.#published = null;
    // Sold out: nothing available and nothing held that a failed payment could give back. A restock
    // (or units coming back) opens the room again; it keeps looking, more slowly.
    const soldOut = stock !== null && stock.onHand === 0;
    if (stock) {
      this.#sql.exec(
        "UPDATE room SET sold_out = ?, units_left = ?, units_sold = ?",
        soldOut ? 1 : 0,
        stock.available,
        stock.committed,
      );
    }
    if (soldOut) {
      await this.ctx.storage.setAlarm(now + SOLD_OUT_TICK_MS);
      return;
    }
    this.ctx.storage.transactionSync(() => {
      const room = this.#sql
        .exec<{ credit: number; ticked_at: number; threshold: number }>("SELECT * FROM room")
        .one();
      const since = room.ticked_at === 0 ? TICK_MS : Math.min(now - room.ticked_at, 60_000);
      const perTick = config.admit_per_minute / 60;
      // Credit builds at the rate; while nobody waits, only up to a tick's worth and a bit (so a rate
      // that is not a whole number a second still adds up over the minute).
      let credit = Math.min(room.credit + (config.admit_per_minute / 60_000) * since, perTick + 1);
      // Admitted in the pass lifetime and not yet bought: at most ADMIT_PER_UNIT_LEFT a unit left.
      const window = this.#sql
        .exec<{ admitted: number | null; sold: number | null }>(
          "SELECT SUM(admitted) AS admitted, MIN(sold) AS sold FROM steps WHERE at > ?",
          now - PASS_TTL_MS,
        )
        .one();
      const soldSince = stock && window.sold !== null ? Math.max(0, stock.committed - window.sold) : 0;
      const outstanding = Math.max(0, (window.admitted ?? 0) - soldSince);
      const roomFor =
        stock === null ? 0 : Math.max(0, Math.floor(stock.available * ADMIT_PER_UNIT_LEFT) - outstanding);
      const take = Math.floor(Math.min(credit, roomFor));
      if (take > 0) {
        const ranks = this.#sql
          .exec<{ rank: number }>(
            "SELECT rank FROM tickets WHERE rank > ? ORDER BY rank LIMIT ?",
            room.threshold,
            take,
          )
          .toArray();
        const last = ranks.at(-1);
        if (last) {
          this.#sql.exec(
            "INSERT INTO steps (at, upto, admitted, sold) VALUES (?, ?, ?, ?)",
            now,
            last.rank,
            ranks.length,
            stock?.committed ?? 0,
          );
          this.#sql.exec("UPDATE room SET threshold = ?", last.rank);
          credit -= ranks.length;
        }
      }
      this.#sql.exec("UPDATE room SET credit = ?, ticked_at = ?", credit, now);
    });
    await this.ctx.storage.setAlarm(now + TICK_MS);
  }

  /**
   * The drop's units summed over its SKUs: a variant never stocked has none; null when some SKU
   * cannot be read (then nobody is admitted this second).
   */
  async #stock(skus: string[]) {
    try {
      const counts = await Promise.all(
        skus.map((sku) =>
          readCounts(this.env, sku).catch((error: unknown) => {
            if (error instanceof AppError && error.code === "sku_not_found") {
              return { onHand: 0, reserved: 0, available: 0, committed: 0 };
            }
            throw error;
          }),
        ),
      );
      const sum = (pick: (c: (typeof counts)[number]) => number) => counts.reduce((n, c) => n + pick(c), 0);
      return {
        onHand: sum((c) => c.onHand),
        available: sum((c) => c.available),
        committed: sum((c) => c.committed),
      };
    } catch (error) {
      logEvent("warn", "waiting room could not read the stock; admits nobody this second", {
        error: String(error),
      });
      return null;
    }
  }
}
