import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import type { Product } from "../../catalog/catalog.schemas";
import { DRAW_SHARDS, drawBook } from "../../draws/draws";
import {
  commitmentOf,
  type DrawRecord,
  type EntryTree,
  entryTree,
  mixBeacon,
  newSeed,
  type Receipt,
  rank,
} from "../../draws/proof";
import { gatewayFor } from "../../payments/gateways";
import { settings } from "../../shared/config";
import { logEvent } from "../../shared/log";
import { newOrderId } from "../shards";
import { fetchBeacon } from "./beacon";
import { CancelPublication } from "./cancel-publication";
import { type DrawRow, DrawStore } from "./draw.store";
import { type DrawSetup, type DrawStatus, Setup, settingsOf, windowOfSetup } from "./draw-setup";
import { sweepDuties } from "./duties";
import { freezeBooks, PAGE, tellCancelled } from "./freeze";
import { tellEntrants } from "./notices";
import { giveBack, giveBackPool, holdPool } from "./pool";
import { recordOf } from "./record";
import { tellLosers, walk } from "./winners";

const Origin = z.url().max(200);

/** While entries are taken, the sweep (and the entrants' notices) runs this often; sooner while duties remain. */
const SWEEP_EVERY_MS = 15_000;
const SWEEP_AGAIN_MS = 5_000;
/** The books are frozen this long after the close, so a call that began before it has landed. */
const CLOSE_GRACE_MS = 2_000;
/** Each step first sets the alarm this far ahead, in case the step is cut off. */
const WATCHDOG_MS = 10_000;
/**
 * A draw whose beacon round has not come this long after the close is cancelled: every hold is made to
 * outlast the close by 6 h (enter.ts), and the winners must be captured within it.
 */
const BEACON_WAIT_MS = 3 * 3_600_000;

/**
 * A product's draw: the only holder of its secret seed, the owner of the units held for it, and the
 * clock that closes and runs it. One object per product (named by its id), driven by its alarm, so
 * every phase resumes where it stopped after a restart (see DrawPhase):
 *
 *   pooling ─► open ─(close)─► closing ─► sealed (digest out) ─(reveal)─► drawing ─► drawn
 *      └──► short (the stock was not there: nothing held)
 */
export class DrawRunner extends DurableObject<Env> {
  readonly #store: DrawStore;
  #running: Promise<void> | null = null;
  /** The frozen list's tree, kept while the object lives: receipts without hashing it again. */
  #tree: Promise<EntryTree> | null = null;
  #sweptAt = 0;
  /** Asked to look at duties while a step was running: that step does not let the alarm rest. */
  #woken = false;
  /** The books a cancelled draw has frozen and told, since this object started. */
  readonly #cancelledBooks = new Set<number>();
  /** The cancel's showing in the catalog. */
  readonly #publication: CancelPublication;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new DrawStore(ctx.storage.sql);
    this.#publication = new CancelPublication(
      env,
      this.#store,
      (promise) => ctx.waitUntil(promise),
      () => this.cancelledDraw(),
    );
    ctx.blockConcurrencyWhile(async () => {
      this.#store.migrate();
      // A draw cancelled before the catalog was told of cancels (its alarm long done) is shown now.
      const draw = this.#store.draw();
      if (draw?.phase === "cancelled" && !draw.cancelShownAgain && (await ctx.storage.getAlarm()) === null) {
        await ctx.storage.setAlarm(Date.now());
      }
    });
  }

  /**
   * Sets the draw up once: a secret seed and its commitment, and a slot per unit, held in stock. The
   * same setup again answers as the first did (and carries the holding on); another is refused.
   */
  async setUp(
    input: DrawSetup,
    origin?: string,
  ): Promise<{ kind: "ok"; status: DrawStatus } | { kind: "exists" }> {
    const setup = Setup.parse(input);
    let known = this.#store.draw();
    // A draw that could not hold its units held nothing: it may be set up again, with any settings.
    if (known?.phase === "short" && this.#store.slotCount("held") + this.#store.slotCount("wanted") === 0) {
      this.ctx.storage.transactionSync(() => this.#store.reset());
      known = null;
    }
    if (known && settingsOf(this.#setup(known)) !== settingsOf(setup)) return { kind: "exists" };
    if (!known) {
      const seed = newSeed();
      const commitment = await commitmentOf(seed);
      const shards = settings(this.env).orderShards;
      let n = 0;
      const slots = Object.entries(setup.units).flatMap(([sku, units]) =>
        Array.from({ length: units }, () => ({ orderId: newOrderId(n++ % shards), sku })),
      );
      // Two setups racing: the first to write wins; the other answers as the same setup would.
      if (this.#store.draw()) return this.setUp(input);
      this.ctx.storage.transactionSync(() =>
        this.#store.create(JSON.stringify(setup), seed, commitment, slots, Date.now()),
      );
    }
    if (origin) this.#store.setOrigin(Origin.parse(origin));
    // A draw's units are held before its setup answers (a batch per step; a large draw takes a few).
    for (let step = 0; step < 100 && this.#store.draw()?.phase === "pooling"; step++) await this.#run();
    const status = this.status();
    if (!status) throw new Error("the draw's setup was not kept");
    return { kind: "ok", status };
  }

  status(): DrawStatus | null {
    const draw = this.#store.draw();
    if (!draw) return null;
    const setup = this.#setup(draw);
    return {
      phase: draw.phase,
      detail: draw.detail,
      commitment: draw.commitment,
      opensAt: new Date(setup.opensAt).toISOString(),
      closesAt: new Date(setup.closesAt).toISOString(),
      cancelledAt: draw.phase === "cancelled" ? new Date(this.#cancelledAt(draw)).toISOString() : null,
      units: setup.units,
      held: this.#store.slotCount("held") + this.#store.slotCount("assigned"),
      givenBack: this.#store.slotCount("released"),
      entries: this.#store.entryCount(),
      won: this.#store.slotCount("won"),
      passedOn: this.#store.passedCount(),
    };
  }

  /** The draw's public record (see proof.ts): what is published grows with the phase; null for none. */
  record(): DrawRecord | null {
    const draw = this.#store.draw();
    if (!draw) return null;
    return recordOf(draw, this.#setup(draw), this.#store);
  }

  /** A page of the frozen list, once it is sealed (null before). */
  frozenEntries(
    cursor: string,
    limit = PAGE,
  ): { entries: { entryId: string; sku: string }[]; nextCursor: string | null } | null {
    const phase = this.#store.draw()?.phase;
    if (phase !== "sealed" && phase !== "drawing" && phase !== "drawn") return null;
    const size = Math.max(1, Math.min(PAGE, Math.trunc(limit)));
    const entries = this.#store.frozenList(z.string().max(100).parse(cursor), size);
    return { entries, nextCursor: entries.length === size ? (entries.at(-1)?.entryId ?? null) : null };
  }

  /** An entrant's receipt: the proof their entry is in the sealed list (null before, or for none). */
  async receipt(entryId: string): Promise<Receipt | null> {
    const phase = this.#store.draw()?.phase;
    if (phase !== "sealed" && phase !== "drawing" && phase !== "drawn") return null;
    this.#tree ??= entryTree(this.#store.frozenList());
    return (await this.#tree).receipt(z.string().max(100).parse(entryId));
  }

  override async alarm() {
    await this.#run();
  }

  /** One step of the draw at a time; the alarm and setUp share it. */
  #run(): Promise<void> {
    this.#running ??= this.#step().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #step() {
    const draw = this.#store.draw();
    if (!draw) return;
    const setup = this.#setup(draw);
    const now = Date.now();
    // A watchdog first: should this step be cut off (the object evicted, the runtime killed), the
    // alarm comes back for it.
    await this.ctx.storage.setAlarm(now + WATCHDOG_MS);
    let next: number | null = now;
    try {
      next = await this.#advance(draw, setup, now);
    } catch (error) {
      logEvent("warn", "a draw's step failed; it is tried again", {
        product: setup.product,
        error: String(error),
      });
      next = now + SWEEP_AGAIN_MS;
    }
    // The phase changed while the step ran (the shop cancelled the draw): the new phase's work now,
    // not at the time the old phase asked for (a cancel's alarm, set meanwhile, is overwritten below).
    if (this.#store.draw()?.phase !== draw.phase) next = Date.now();
    if (next === null && this.#woken) next = Date.now() + SWEEP_AGAIN_MS;
    this.#woken = false;
    if (next === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }

  /** Has the draw look at its duties soon (an entry that left owing a cancel after the draw rested). */
  async wake(): Promise<void> {
    this.#woken = true;
    if ((await this.ctx.storage.getAlarm()) === null && this.#store.draw()) {
      await this.ctx.storage.setAlarm(Date.now());
    }
  }

  /**
   * Cancels the draw before it is drawn: its books freeze, every entry is told it lost (its
   * authorization cancelled), the units go back to stock, and the catalog shows it cancelled. Answers
   * false once the walk has begun. `origin`: the admin request's, which shows the cancel in the
   * catalog itself (then says so with `cancelShown`); the alarm shows it should that not happen.
   */
  cancel(detail: string, origin?: string): boolean {
    const phase = this.#store.draw()?.phase;
    if (!phase || phase === "drawing" || phase === "drawn") return false;
    // A short draw holds nothing and takes no entry: there is nothing to cancel (it may be set up again).
    if (phase === "short") return true;
    if (origin) this.#store.setOrigin(Origin.parse(origin));
    if (phase !== "cancelled") {
      this.#store.cancel(phase, detail, Date.now());
      this.#publication.requestShows = origin !== undefined;
      void this.ctx.storage.setAlarm(Date.now());
    }
    return true;
  }

  /** What the catalog is to show of a cancelled draw (null: the draw is not cancelled). */
  cancelledDraw(): { draw: NonNullable<Product["draw"]>; cancelledAt: string } | null {
    const draw = this.#store.draw();
    if (draw?.phase !== "cancelled") return null;
    const setup = this.#setup(draw);
    return {
      draw: {
        opensAt: new Date(setup.opensAt).toISOString(),
        closesAt: new Date(setup.closesAt).toISOString(),
        units: setup.units,
        ...(setup.beacon ? { beacon: setup.beacon } : {}),
        commitment: draw.commitment,
      },
      cancelledAt: new Date(this.#cancelledAt(draw)).toISOString(),
    };
  }

  /**
   * When a cancelled draw was cancelled, the same for every view. A draw cancelled before the time was
   * kept has it noted by the migration; should one still lack it, the first asked is kept.
   */
  #cancelledAt(draw: DrawRow): number {
    if (draw.cancelledAt !== null) return draw.cancelledAt;
    const now = Date.now();
    this.#store.noteCancelledAt(now);
    return now;
  }

  /** The catalog shows the cancel (a request showed it). */
  cancelShown(): void {
    this.#publication.shownByRequest(Date.now());
  }

  /** Moves the draw on from its phase; answers when to come back (null: nothing left to do). */
  async #advance(draw: DrawRow, setup: Setup, now: number): Promise<number | null> {
    // Each sweep also tells entrants their news (in the draw, won, lost); a failure to tell waits for the next.
    const sweep = async () => {
      const told = await tellEntrants(this.env, setup).catch((error: unknown) => {
        logEvent("warn", "a draw's entrants could not be told yet", {
          product: setup.product,
          error: String(error),
        });
        return 1;
      });
      const swept = await sweepDuties(this.env, setup.product, () => gatewayFor(this.env), now);
      return { ...swept, left: swept.left + told, looked: swept.looked + told, exhausted: swept.exhausted };
    };
    switch (draw.phase) {
      case "pooling": {
        const before = this.#store.slotCount("wanted");
        await holdPool(this.env, this.#store, this.ctx.storage, setup);
        // No slot held this step (objects failing): again in a second, not at once.
        return this.#store.slotCount("wanted") < before ? now : now + 1_000;
      }
      case "short":
        return (await giveBackPool(this.env, this.#store, setup)) ? null : now + SWEEP_AGAIN_MS;
      case "open": {
        // The close first: an entry book that fails the sweep never holds the close back.
        const closeAt = setup.closesAt + CLOSE_GRACE_MS;
        if (now >= closeAt) {
          this.#store.setPhase("closing", "open");
          return now;
        }
        const swept = await sweep();
        if (swept.exhausted) return now;
        return Math.min(now + (swept.left > 0 ? SWEEP_AGAIN_MS : SWEEP_EVERY_MS), closeAt);
      }
      case "closing":
        return (await this.#close(setup, now)) ? now : now + SWEEP_AGAIN_MS;
      case "sealed": {
        await this.#sweepNow(sweep, now);
        if (now < (draw.revealAt ?? now)) return draw.revealAt;
        if (await this.#reveal(draw, setup)) return now;
        if (setup.beacon && now > setup.closesAt + BEACON_WAIT_MS) {
          this.cancel(`the beacon's round ${setup.beacon.round} did not come within 3 hours of the close`);
        }
        return now + SWEEP_AGAIN_MS;
      }
      case "drawing": {
        await this.#sweepNow(sweep, now);
        const step = await walk(this.env, this.#store, setup, () => gatewayFor(this.env));
        if (step === "done") {
          this.#store.loseTheRest();
          this.#store.setPhase("drawn", "drawing");
          return now;
        }
        return step === "more" ? now : now + 1_000;
      }
      case "drawn": {
        if (await tellLosers(this.env, this.#store, setup.product)) return now;
        const released = await giveBack(this.env, this.#store, "free").catch(() => false);
        const swept = await sweep();
        // The losers' holds are released as fast as the gateway's pace allows, a budget per step.
        if (swept.exhausted) return now;
        if (!released || swept.left > 0) return now + SWEEP_AGAIN_MS;
        return swept.looked === 0 ? null : now + SWEEP_EVERY_MS;
      }
      case "cancelled": {
        // Every book frozen first, all at once (the admin request froze them already, unless one did
        // not answer): no entry gets in however stale a catalog copy is. Then the catalog and the
        // entrants' news side by side: D1 being slow or down delays the cancel's showing (retried),
        // never the release of the entrants' holds.
        const window = windowOfSetup(setup);
        const frozen = await freezeBooks(this.env, window, now, this.#cancelledBooks);
        const [showAt, told] = await Promise.all([
          this.#publication.show(draw, this.#cancelledAt(draw), setup.product, now),
          tellCancelled(this.env, window, frozen, this.#cancelledBooks),
        ]);
        if (!told) return now + SWEEP_AGAIN_MS;
        const released = await giveBackPool(this.env, this.#store, setup).catch(() => false);
        const swept = await sweep();
        if (swept.exhausted) return now;
        if (!released || swept.left > 0) return now + SWEEP_AGAIN_MS;
        return earliest(swept.looked === 0 ? null : now + SWEEP_EVERY_MS, showAt);
      }
    }
  }

  /** Sweeps in the phases that run often at most every SWEEP_AGAIN_MS. */
  async #sweepNow(sweep: () => Promise<unknown>, now: number) {
    if (now - this.#sweptAt < SWEEP_AGAIN_MS) return;
    this.#sweptAt = now;
    await sweep();
  }

  /** Freezes every book, gathers their frozen lists into one, then seals it: its digest is public. */
  async #close(setup: Setup, now: number): Promise<boolean> {
    for (let shard = 0; shard < DRAW_SHARDS; shard++) {
      let gathered = this.#store.gathered(shard);
      if (gathered?.done) continue;
      const book = drawBook(this.env, setup.product, shard);
      if (!gathered) {
        const window = { product: setup.product, opensAt: setup.opensAt, closesAt: setup.closesAt };
        if ((await book.freeze(window, now)).kind !== "frozen") return false;
        this.#store.gather(shard, [], "", false);
        gathered = { cursor: "", done: false };
      }
      let cursor = gathered.cursor;
      for (;;) {
        const page = await book.frozenEntries(cursor, PAGE);
        if (!page) return false;
        cursor = page.entries.at(-1)?.entryId ?? cursor;
        const done = page.entries.length < PAGE;
        this.ctx.storage.transactionSync(() => this.#store.gather(shard, page.entries, cursor, done));
        if (done) break;
      }
    }
    this.#tree = entryTree(this.#store.frozenList());
    const { digest } = await this.#tree;
    // The digest is public a while before the seed is revealed, for entrants to take their receipts.
    this.#store.seal(digest.root, digest.count, Date.now() + settings(this.env).drawRevealSeconds * 1000);
    return true;
  }

  /** Reveals the seed (mixed with the beacon's round once it is out) and ranks the frozen list. */
  async #reveal(draw: DrawRow, setup: Setup): Promise<boolean> {
    let seed = draw.seed;
    if (setup.beacon) {
      const randomness = draw.beaconRandomness ?? (await fetchBeacon(this.env, setup.beacon));
      if (!randomness) return false;
      if (!draw.beaconRandomness) this.#store.setBeaconRandomness(randomness);
      seed = await mixBeacon(draw.seed, { ...setup.beacon, randomness });
    }
    const ranked = await rank(seed, this.#store.frozenList());
    this.ctx.storage.transactionSync(() => {
      // Cancelled while the list was being ranked: the cancel stands, nothing is drawn.
      if (this.#store.setPhase("drawing", "sealed"))
        this.#store.setRanks(ranked.map((entry) => entry.entryId));
    });
    return true;
  }

  #setup(draw: DrawRow): Setup {
    return Setup.parse(JSON.parse(draw.setup));
  }
}

/** The earlier of two times to come back (null: none). */
const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
