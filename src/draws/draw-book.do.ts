import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { CartPricingRecord } from "../pricing/cart-pricing.schemas";
import { type DrawWindow, type EntryRow, EntryStore, type TimelineBucket } from "./entries.store";
import { assertEntry, assertNewEntry, decideEntry, type EntryAnswer, type EntryEvent } from "./entry.machine";

const Id = z.string().min(1).max(80);
const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const Window = z.object({ product: Id, opensAt: z.number().int(), closesAt: z.number().int() }).strict();

const BeginArgs = z
  .object({
    window: Window,
    entryId: Id,
    customer: z.string().min(1).max(254),
    email: z.email().max(254),
    name: z.string().max(200).nullable(),
    address: z.record(z.string().max(40), z.string().max(200)).nullable(),
    sku: Id,
    amount: z.number().int().min(0),
    currency: z.string().regex(/^[A-Z]{3}$/),
    // Null only for the replay of an entry made before entries were priced (its row has none).
    pricing: CartPricingRecord.nullable(),
    token: z.string().min(1).max(255),
    keyHash: Hex64,
    bodyHash: Hex64,
  })
  .strict();
export type BeginArgs = z.input<typeof BeginArgs>;

/** What `begin` made of an attempt to enter. */
export type BeginAnswer =
  /**
   * A new pending entry, or the one this key began before (to be carried on, or answered as it ended);
   * `superseded`: the customer's attempt under another key that gave way to this one.
   */
  | { kind: "begun"; entry: EntryRow; superseded?: EntryRow }
  /** The customer already has a live entry, under another key. */
  | { kind: "taken"; entry: EntryRow }
  /** The key was used before with another body. */
  | { kind: "mismatch" }
  | { kind: "not_open" }
  | { kind: "closed" }
  /** The call names another window than the book was opened with (a draw's window never changes). */
  | { kind: "window_changed" };

export type CardClaim =
  | { kind: "claimed" }
  | { kind: "released" }
  | { kind: "taken"; by: string }
  | { kind: "closed" }
  | { kind: "window_changed" };

const Event = z.discriminatedUnion("type", [
  z.object({ type: z.literal("card_noted"), fingerprint: z.string().min(1).max(255) }),
  z.object({ type: z.literal("authorizing") }),
  z.object({
    type: z.literal("authorized"),
    intentId: z.string().min(1).max(255).nullable(),
    expiresAt: z.number().int(),
  }),
  z.object({
    type: z.literal("failed"),
    reason: z.string().min(1).max(200),
    held: z.enum(["none", "maybe"]),
  }),
  z.object({ type: z.literal("withdraw") }),
  z.object({ type: z.literal("auth_cancelled") }),
  z.object({ type: z.literal("card_released") }),
  z.object({ type: z.literal("won"), chargeId: z.string().min(1).max(255), orderId: Id }),
  z.object({ type: z.literal("lost"), reason: z.enum(["not_drawn", "capture_failed", "draw_cancelled"]) }),
]);

/** Events a request makes as it carries an entry on (the sweep's staleness counts from the last). */
const REQUEST_EVENTS = new Set<EntryEvent["type"]>(["card_noted", "authorizing", "authorized"]);

/** Buckets one timeline answers at the most (a draw's service asks for a few hundred). */
const MAX_BUCKETS = 10_000;
const TimelineArgs = z
  .object({ from: z.number().int().min(0), to: z.number().int(), stepMs: z.number().int().min(1_000) })
  .refine((args) => args.from < args.to && (args.to - args.from) / args.stepMs <= MAX_BUCKETS, {
    message: "from before to, and at most 10,000 buckets",
  });

/** Entries a duty sweep reads at once. */
const MAX_DUTIES = 200;
const MAX_PAGE = 5_000;

/**
 * One shard of a draw's entry book (named `<product>:<shard>`): a thin RPC shell over its store and
 * the entry machine. It knows nothing of gateways: what an entry owes the gateway is written here
 * and done by whoever sweeps its duties.
 */
export class DrawBook extends DurableObject<Env> {
  readonly #store: EntryStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new EntryStore(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => this.#store.migrate());
  }

  /**
   * Begins an entry for a customer, or finds the one this key began. One live entry per customer:
   * a second attempt under another key is `taken`, however the email is spelt (`customer` is its
   * normalized key).
   */
  begin(input: BeginArgs, now = Date.now()): BeginAnswer {
    const args = BeginArgs.parse(input);
    const window = this.#opened(args.window);
    if (!window) return { kind: "window_changed" };
    const byKey = this.#store.entryByKey(args.keyHash);
    if (byKey) {
      if (byKey.bodyHash !== args.bodyHash) return { kind: "mismatch" };
      // The same request again: carried on while pending (the book decides the close at each step),
      // answered as it ended otherwise; only an attempt the sweep gave up on starts anew.
      if (byKey.state === "pending") {
        const touched = { ...byKey, touchedAt: now };
        this.#store.update(touched);
        return { kind: "begun", entry: touched };
      }
      if (byKey.state !== "void" || byKey.reason !== "abandoned") return { kind: "begun", entry: byKey };
    }
    if (this.#closed(now)) return { kind: "closed" };
    if (now < window.opensAt) return { kind: "not_open" };
    const live = this.#store.liveEntryOf(args.customer);
    if (live?.state === "entered") return { kind: "taken", entry: live };
    const entry: EntryRow = {
      entryId: args.entryId,
      customer: args.customer,
      email: args.email,
      name: args.name,
      address: args.address,
      sku: args.sku,
      amount: args.amount,
      currency: args.currency,
      pricing: args.pricing,
      token: args.token,
      keyHash: args.keyHash,
      bodyHash: args.bodyHash,
      state: "pending",
      reason: null,
      auth: "none",
      intentId: null,
      authExpiresAt: null,
      chargeId: null,
      orderId: null,
      fingerprint: null,
      card: "none",
      createdAt: now,
      touchedAt: now,
      enteredAt: null,
      leftAt: null,
    };
    assertNewEntry(entry, window);
    // A customer's attempt still pending under another key gives way to this one: it never enters,
    // owing the cancel of any authorization it asked for and the release of its card's claim.
    let superseded: EntryRow | null = null;
    this.ctx.storage.transactionSync(() => {
      if (live) {
        superseded = this.#write(live, { type: "failed", reason: "superseded", held: "maybe" }, now, window);
      }
      this.#store.insert(entry);
    });
    return { kind: "begun", entry, ...(superseded ? { superseded } : {}) };
  }

  /**
   * Applies one event to an entry (see entry.machine.ts); null for an entry this book never had. With
   * `ifUntouchedSince` (the sweep's), nothing changes if a request carried the entry on since then.
   */
  apply(entryId: string, input: EntryEvent, now = Date.now(), ifUntouchedSince?: number): EntryAnswer | null {
    const event = Event.parse(input);
    const window = this.#store.window();
    const entry = this.#store.entry(Id.parse(entryId));
    if (!window || !entry) return null;
    if (ifUntouchedSince !== undefined && entry.touchedAt >= ifUntouchedSince) {
      return { kind: "refused", entry, reason: "carried on since" };
    }
    const answer = decideEntry(entry, event, { now, window, frozen: window.frozenAt !== null });
    if (answer.entry === entry) return answer;
    return { ...answer, entry: this.#write(entry, event, now, window, answer.entry) };
  }

  /** Writes what `event` makes of `entry` (decided already, or here), its invariants asserted first. */
  #write(
    entry: EntryRow,
    event: EntryEvent,
    now: number,
    window: DrawWindow & { frozenAt: number | null },
    decided?: EntryRow,
  ): EntryRow {
    const next =
      decided ?? decideEntry(entry, event, { now, window, frozen: window.frozenAt !== null }).entry;
    const carried = REQUEST_EVENTS.has(event.type) ? { ...next, touchedAt: now } : next;
    assertEntry(carried, window);
    this.#store.update(carried);
    return carried;
  }

  /** `apply` for many entries (the draw telling each entry's outcome), each answered as if alone. */
  applyMany(events: { entryId: string; event: EntryEvent }[], now = Date.now()): (EntryAnswer | null)[] {
    return z
      .array(z.object({ entryId: Id, event: Event }))
      .max(MAX_PAGE)
      .parse(events)
      .map(({ entryId, event }) => this.apply(entryId, event, now));
  }

  /** The latest entry begun under a key (an Idempotency-Key's hash), or null. */
  entryByKey(keyHash: string): EntryRow | null {
    return this.#store.entryByKey(Hex64.parse(keyHash));
  }

  entry(entryId: string): EntryRow | null {
    return this.#store.entry(Id.parse(entryId));
  }

  /** Claims a card for an entry: one entry per card in the draw, held until that entry leaves it. */
  claimCard(fingerprint: string, entryId: string, window: DrawWindow, now = Date.now()): CardClaim {
    if (!this.#opened(Window.parse(window))) return { kind: "window_changed" };
    const holder = this.#store.cardHolder(z.string().min(1).max(255).parse(fingerprint));
    if (holder === entryId) return { kind: "claimed" };
    if (holder) return { kind: "taken", by: holder };
    if (this.#closed(now)) return { kind: "closed" };
    // The entry left the draw and gave the card back while this call was on its way.
    if (this.#store.claimReleased(fingerprint, entryId)) return { kind: "released" };
    this.#store.claimCard(fingerprint, Id.parse(entryId), now);
    return { kind: "claimed" };
  }

  /** Gives a card back, if `entryId` holds it (a repeat, or another entry's claim, changes nothing). */
  releaseCard(fingerprint: string, entryId: string): void {
    const [card, id] = [z.string().min(1).max(255).parse(fingerprint), Id.parse(entryId)];
    this.ctx.storage.transactionSync(() => this.#store.releaseCard(card, id));
  }

  /**
   * Freezes the book (at or after its close): no entry enters or leaves any more, and the entries still
   * pending never enter. Answers the counts by state once frozen; `open` before the close.
   */
  freeze(
    drawWindow: DrawWindow,
    now = Date.now(),
  ):
    | { kind: "frozen"; counts: ReturnType<EntryStore["counts"]> }
    | { kind: "open" }
    | { kind: "window_changed" } {
    // A book no entry reached is opened here, so that it is frozen like the others.
    const window = this.#opened(Window.parse(drawWindow));
    if (!window) return { kind: "window_changed" };
    if (window.frozenAt === null && now < window.closesAt) return { kind: "open" };
    this.ctx.storage.transactionSync(() => {
      this.#store.freeze(now);
      for (const entry of this.#store.duties(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) {
        if (entry.state !== "pending") continue;
        const answer = decideEntry(entry, { type: "frozen" }, { now, window, frozen: true });
        assertEntry(answer.entry, window);
        this.#store.update(answer.entry);
      }
    });
    return { kind: "frozen", counts: this.#store.counts() };
  }

  /** A page of the frozen list (entered entries by id); only once the book is frozen. */
  frozenEntries(cursor: string, limit: number): { entries: { entryId: string; sku: string }[] } | null {
    const window = this.#store.window();
    if (window && window.frozenAt === null) return null;
    return { entries: this.#store.enteredAfter(cursor, z.number().int().min(1).max(MAX_PAGE).parse(limit)) };
  }

  /**
   * Entries with a duty left: a cancel owed, a card claim to release, or a pending one begun before
   * `staleBefore` (by default: any) whose request must have stopped.
   */
  duties(staleBefore = Number.MAX_SAFE_INTEGER, limit = MAX_DUTIES): EntryRow[] {
    return this.#store.duties(Math.min(limit, MAX_DUTIES), staleBefore);
  }

  /** Entries whose entrant has news to be told (see EntryStore.notices). */
  notices(limit = MAX_DUTIES): EntryRow[] {
    return this.#store.notices(Math.min(limit, MAX_DUTIES));
  }

  /** Notes what these entrants were told. */
  told(notes: { entryId: string; notice: "entered" | "won" | "lost" }[]): void {
    const checked = z
      .array(z.object({ entryId: Id, notice: z.enum(["entered", "won", "lost"]) }))
      .max(MAX_DUTIES)
      .parse(notes);
    this.ctx.storage.transactionSync(() => {
      for (const { entryId, notice } of checked) this.#store.told(entryId, notice);
    });
  }

  counts() {
    return {
      window: this.#store.window(),
      counts: this.#store.counts(),
      authorizations: this.#store.authorizations(),
    };
  }

  /** Entries entered and withdrawn per bucket of `stepMs` in [from, to) (see EntryStore.timeline). */
  timeline(from: number, to: number, stepMs: number): TimelineBucket[] {
    const args = TimelineArgs.parse({ from, to, stepMs });
    return this.#store.timeline(args.from, args.to, args.stepMs);
  }

  #opened(window: DrawWindow) {
    this.#store.open(window);
    const stored = this.#store.window();
    if (!stored || stored.closesAt !== window.closesAt || stored.opensAt !== window.opensAt) return null;
    return stored;
  }

  #closed(now: number) {
    const window = this.#store.window();
    return !window || window.frozenAt !== null || now >= window.closesAt;
  }
}
