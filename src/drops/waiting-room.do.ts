import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { readCounts } from "../inventory/inventory.service";
import { logEvent } from "../shared/log";
import { binOf } from "./admission";

/** An admitted buyer's pass is good this long after their place in line was admitted. */
export const PASS_TTL_MS = 10 * 60_000;
/** Admitted buyers who have not bought yet may be this many times the units left, no more. */
const ADMIT_PER_UNIT_LEFT = 1.5;
const TICK_MS = 1000;
/** The published state is computed at most this often, however many isolates ask. */
const STATE_EVERY_MS = 500;

export const RoomReport = z
  .object({
    productId: z.string().min(1).max(64),
    startsAt: z.number().int(),
    admitPerMinute: z.number().int().min(1).max(1_000_000),
    skus: z.array(z.string().min(1).max(64)).min(1).max(50),
    ranks: z.array(z.number().min(0)).max(100_000),
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
};

type Config = { product_id: string; starts_at: number; admit_per_minute: number; skus: string };

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
          starts_at INTEGER NOT NULL, admit_per_minute INTEGER NOT NULL, skus TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS tickets (rank REAL NOT NULL);
        CREATE INDEX IF NOT EXISTS tickets_rank ON tickets (rank);
        CREATE TABLE IF NOT EXISTS steps (at INTEGER NOT NULL, upto REAL NOT NULL, admitted INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS room (id INTEGER PRIMARY KEY CHECK (id = 1), credit REAL NOT NULL,
          ticked_at INTEGER NOT NULL, threshold REAL NOT NULL, sold_out INTEGER NOT NULL);
        INSERT OR IGNORE INTO room (id, credit, ticked_at, threshold, sold_out) VALUES (1, 0, 0, -1, 0);
      `);
    });
  }

  #config(): Config | null {
    return this.#sql.exec<Config>("SELECT * FROM config").toArray()[0] ?? null;
  }

  /** The ranks of tickets issued at the edge since its last report, with the drop's settings. */
  async report(input: RoomReport): Promise<void> {
    const report = RoomReport.parse(input);
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO config (id, product_id, starts_at, admit_per_minute, skus) VALUES (1, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at,
           admit_per_minute = excluded.admit_per_minute, skus = excluded.skus`,
        report.productId,
        report.startsAt,
        report.admitPerMinute,
        JSON.stringify(report.skus),
      );
      this.#sql.exec(
        "INSERT INTO tickets (rank) SELECT value FROM json_each(?)",
        JSON.stringify(report.ranks),
      );
    });
    this.#published = null;
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Math.max(Date.now(), report.startsAt));
    }
  }

  state(): RoomState {
    const now = Date.now();
    if (this.#published && now - this.#published.at < STATE_EVERY_MS) return this.#published.state;
    const config = this.#config();
    const room = this.#sql.exec<{ threshold: number; sold_out: number }>("SELECT * FROM room").one();
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
    const skus = JSON.parse(config.skus) as string[];
    const left = await Promise.all(skus.map((sku) => readCounts(this.env, sku).then((c) => c.available)))
      .then((counts) => counts.reduce((a, b) => a + b, 0))
      .catch((error: unknown) => {
        logEvent("warn", "waiting room could not read the stock; admits nobody this second", {
          error: String(error),
        });
        return null;
      });
    this.#published = null;
    if (left === 0) {
      this.#sql.exec("UPDATE room SET sold_out = 1");
      return;
    }
    this.ctx.storage.transactionSync(() => {
      const room = this.#sql
        .exec<{ credit: number; ticked_at: number; threshold: number }>("SELECT * FROM room")
        .one();
      const since = room.ticked_at === 0 ? TICK_MS : Math.min(now - room.ticked_at, 60_000);
      const perTick = config.admit_per_minute / 60;
      // Credit builds at the rate while nobody waits only up to one tick's worth.
      let credit = Math.min(room.credit + (config.admit_per_minute / 60_000) * since, Math.max(perTick, 1));
      const recent =
        this.#sql
          .exec<{ n: number | null }>("SELECT SUM(admitted) AS n FROM steps WHERE at > ?", now - PASS_TTL_MS)
          .one().n ?? 0;
      const roomFor = left === null ? 0 : Math.max(0, Math.floor(left * ADMIT_PER_UNIT_LEFT) - recent);
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
            "INSERT INTO steps (at, upto, admitted) VALUES (?, ?, ?)",
            now,
            last.rank,
            ranks.length,
          );
          this.#sql.exec("UPDATE room SET threshold = ?", last.rank);
          credit -= ranks.length;
        }
      }
      this.#sql.exec("UPDATE room SET credit = ?, ticked_at = ?", credit, now);
    });
    await this.ctx.storage.setAlarm(now + TICK_MS);
  }
}
