import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { cardAllowanceLines, customerAllowanceLines, type LimitLine } from "../../src/inventory/allowances";
import type { PlannedLine } from "../../src/inventory/inventory.holds";
import type { AcceptedOrder, OrderRow } from "../../src/orders/lifecycle/order";
import { owedWork } from "../../src/orders/lifecycle/states";
import { type AttemptPorts, makeAttempts } from "../../src/orders/payment/attempts";
import type { PaymentReport } from "../../src/orders/protocol";
import { OrderLoop } from "../../src/orders/shard/loop";
import type { LoopPorts } from "../../src/orders/shard/ports";
import { chargeKey } from "../../src/payments/gateway";
import { type Behaviour, MemoryStore, ModelGateway, ModelStock, type Rng, seeded } from "./world";

/**
 * The order lifecycle simulated, VOPR-style: the real order loop (decisions, invariants, the steps
 * between them) and the real payment attempts, against the models in world.ts, driven by one seeded
 * generator through random sequences of what happens to an order: payment messages delivered late,
 * twice or never, consumers dying after charging, reports lost, duplicated and reordered, calls to the
 * gateway and the inventory held back past leases and hold times or failing, the gateway's events
 * duplicated, reordered and dropped, the buyer cancelling and answering 3-D Secure, the shard's object
 * restarting, time jumping. Every write is checked against the invariants (invariants.ts); once the
 * faults stop, the order must end with the money and the stock agreeing with it.
 *
 * LIFECYCLE_RUNS sets how many sequences (default 5,000); LIFECYCLE_SEED=<seed> replays one exactly.
 */
const RUNS = Number(process.env.LIFECYCLE_RUNS ?? 5000);
const ONLY = process.env.LIFECYCLE_SEED === undefined ? null : Number(process.env.LIFECYCLE_SEED);

const SKU = "SKU-1";
const HOLD_TTL_MS = 15 * 60_000;
const EMAIL = "buyer@example.com";
const LIMIT: LimitLine = { key: `sku:${SKU}`, quantity: 1, limit: { scope: "sku", sku: SKU, max: 2 } };

/** One held-back call: run it (it reaches its store now), or lose it (its caller sees an error). */
type Pending = { owner: string; land: () => void; lose: () => void };

const BEHAVIOURS: readonly Behaviour[] = [
  "ok",
  "ok",
  "declined",
  "error_before",
  "error_after",
  "throttled",
  "3ds",
  "processing",
];
const JUMPS = [500, 5_000, 31_000, 61_000, 11 * 60_000, 16 * 60_000];

class Simulation {
  readonly rng: Rng;
  now = Date.UTC(2026, 11, 6, 12);
  readonly store = new MemoryStore();
  readonly stock = new ModelStock(() => this.now);
  readonly gateway = new ModelGateway();
  readonly pending: Pending[] = [];
  readonly queue: string[][] = [];
  readonly failures: string[] = [];
  readonly running = new Set<Promise<unknown>>();
  /** While false, nothing is held back or fails: the world settles. */
  faults = true;
  stockDown = false;
  finalBehaviour: Behaviour;
  shard = 0;
  loop: OrderLoop;
  delivered = new Set<string>();
  orderId = "";
  quantity = 1;
  token = "";
  readonly trace: string[] = [];

  constructor(readonly seed: number) {
    this.rng = seeded(seed);
    this.finalBehaviour = this.rng.pick<Behaviour>(["ok", "ok", "declined", "3ds"]);
    this.loop = this.#newLoop();
  }

  get key() {
    return chargeKey(this.orderId);
  }

  /** A call through a port, which the simulation may hold back (it lands later) or fail. */
  call(owner: string) {
    return <T>(work: () => T): Promise<T> => {
      if (this.faults && this.rng.chance(0.15)) {
        return new Promise<T>((resolve, reject) => {
          this.pending.push({
            owner,
            land: () => {
              try {
                resolve(work());
              } catch (error) {
                reject(error);
              }
            },
            lose: () => reject(new Error("connection lost")),
          });
        });
      }
      if (this.faults && this.rng.chance(0.05)) return Promise.reject(new Error("unreachable"));
      return Promise.resolve().then(work);
    };
  }

  /**
   * A call that reaches its store at once, whose answer the simulation may then hold back (it arrives
   * later, or never: a restart drops it) or lose: the effect happened, the caller does not know it.
   */
  after(owner: string) {
    return <T>(work: () => Promise<T>): Promise<T> => {
      if (!(this.faults && this.rng.chance(0.1))) return work();
      const done = work();
      return new Promise<T>((resolve, reject) => {
        this.pending.push({
          owner,
          land: () => void done.then(resolve, reject),
          lose: () => reject(new Error("connection lost")),
        });
      });
    };
  }

  #behaviour = (): Behaviour => (this.faults ? this.rng.pick(BEHAVIOURS) : this.finalBehaviour);

  #log = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => {
    if (level === "error" && msg !== "a pinned hold could not be committed") {
      this.failures.push(`${msg} ${JSON.stringify(fields)}`);
    }
  };

  #newLoop(): OrderLoop {
    const owner = `shard#${++this.shard}`;
    const call = this.call(owner);
    const after = this.after(owner);
    const stockPort = this.stock.port(() => this.stockDown);
    const ports: LoopPorts = {
      store: this.store,
      stock: {
        pin: (orders) => call(() => 0).then(() => after(() => stockPort.pin(orders))),
        settle: (orders, to) => call(() => 0).then(() => after(() => stockPort.settle(orders, to))),
        unsell: (orders) => call(() => 0).then(() => after(() => stockPort.unsell(orders))),
        restock: (shares) => call(() => 0).then(() => after(() => stockPort.restock(shares))),
      },
      payments: {
        gateway: async () => this.gateway.port(call, this.#behaviour),
        turns: async (wanted) =>
          this.faults && this.rng.chance(0.1)
            ? { granted: 0, nextInMs: 1000 }
            : { granted: wanted, nextInMs: 0 },
      },
      handOn: async (ids) => {
        this.queue.push(ids);
      },
      wake: () => {},
      clock: { now: () => this.now, random: () => this.rng.next() },
      settings: { maxAttempts: 3, retryBaseMs: 1000, retryCapMs: 5000, actionMs: 10 * 60_000 },
      log: this.#log,
    };
    return new OrderLoop(ports);
  }

  #attemptPorts(owner: string): AttemptPorts {
    const call = this.call(owner);
    const stockPort = this.stock.port(() => this.stockDown);
    return {
      gateway: this.gateway.port(call, this.#behaviour),
      pin: (orders) => call(() => 0).then(() => this.after(owner)(() => stockPort.pin(orders))),
      hold: (orderId, lines, expiresAtMs) =>
        call(() => {
          if (this.stockDown) throw new Error("overloaded");
          return this.stock.hold(orderId, lines, expiresAtMs);
        }),
      turns: async (wanted) =>
        this.faults && this.rng.chance(0.1)
          ? { granted: 0, nextInMs: 2000 }
          : { granted: wanted, nextInMs: 0 },
      rps: 10,
      holdTtlMs: HOLD_TTL_MS,
      now: () => this.now,
      log: this.#log,
    };
  }

  /** Runs an async piece of the world (a consumer, a heal) to where it waits on a held-back call. */
  spawn(name: string, work: () => Promise<unknown>) {
    const run = work().catch((error: unknown) => {
      const message = String(error);
      // What a caller sees of a lost or failed call is its own business; anything else is a bug.
      if (!/connection lost|unreachable|overloaded/.test(message)) this.failures.push(`${name}: ${message}`);
    });
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Lets every piece that can go on go on (everything here settles in microtasks). */
  async settle() {
    await new Promise((resolve) => setImmediate(resolve));
  }

  async place() {
    this.quantity = 1 + this.rng.int(2);
    const card = `c${this.rng.int(3)}`;
    this.token = `tok.card_${card}`;
    const limit = { ...LIMIT, quantity: this.quantity };
    // Most orders are under a limit per customer, counted by the paying card too; some are not.
    const limited = this.rng.chance(0.7);
    this.stock.stock(SKU, 3);
    const [customer] = await customerAllowanceLines([limit], EMAIL);
    const [cardLine] = await cardAllowanceLines([limit], `fp_${card}`);
    // Sometimes the card already bought under its limit elsewhere, so its allowance may refuse.
    if (cardLine && this.rng.chance(0.3)) {
      const object = this.stock.object(cardLine.sku, 2);
      object.onHand -= 1;
      object.committed += 1;
    }
    this.orderId = `sim-${this.seed}-0`;
    const lines: PlannedLine[] = [
      { sku: SKU, quantity: this.quantity, buckets: 1 },
      ...(customer ? [customer] : []),
    ];
    const held = this.stock.hold(this.orderId, lines, this.now + HOLD_TTL_MS);
    if (!held.ok) throw new Error("the model could not hold a fresh cart");
    const order: AcceptedOrder = {
      id: this.orderId,
      keyHash: "0".repeat(64),
      tokenHash: "1".repeat(64),
      items: [
        {
          sku: SKU,
          productId: "p",
          title: "Tee",
          quantity: this.quantity,
          unitPrice: { amount: 1000, currency: "USD" },
        },
      ],
      total: { amount: 1000 * this.quantity, currency: "USD" },
      customer: { email: EMAIL },
      paymentToken: this.token,
      ...(limited ? { cardLimits: [limit] } : {}),
      holds: held.holds,
      holdExpiresAt: held.expiresAt,
      createdAt: new Date(this.now).toISOString(),
    };
    this.store.transaction(() => this.loop.accept(order, this.now + 10_000));
    this.queue.push([this.orderId]);
  }

  order(): OrderRow {
    const row = this.store.order(this.orderId);
    if (!row) throw new Error("the order is gone");
    return row;
  }

  /** A consumer takes a message: begins attempts, makes them, reports (or dies, or reports late). */
  deliver(ids: string[]) {
    const owner = `consumer#${this.rng.int(1e9)}`;
    const dies = this.faults && this.rng.chance(0.1);
    const twice = this.faults && this.rng.chance(0.1);
    const late = this.faults && this.rng.chance(0.15);
    this.spawn(owner, async () => {
      const tasks = this.loop.beginPayments(ids);
      const reports = await makeAttempts(tasks, this.#attemptPorts(owner));
      if (dies) return;
      const report = (all: PaymentReport[]) => this.loop.settlePayments(all);
      if (late) {
        await new Promise<void>((resolve, reject) =>
          this.pending.push({ owner, land: resolve, lose: () => reject(new Error("connection lost")) }),
        );
      }
      await report(reports);
      if (twice) await report(reports);
    });
  }

  deliverEvent() {
    const waiting = this.gateway.events.filter((event) => !this.delivered.has(event.eventId));
    const all = this.gateway.events;
    if (all.length === 0) return;
    // Mostly the next undelivered one; sometimes any, again (duplicates, reordering).
    const event = waiting.length > 0 && this.rng.chance(0.7) ? this.rng.pick(waiting) : this.rng.pick(all);
    if (this.faults && this.rng.chance(0.1)) {
      this.delivered.add(event.eventId);
      return;
    }
    this.delivered.add(event.eventId);
    this.loop.gatewayEvent(event);
  }

  /** One random thing happens. */
  async step() {
    const r = this.rng.int(100);
    if (r < 16) {
      const message = this.queue.length > 0 && this.rng.chance(0.8) ? this.queue.shift() : [this.orderId];
      if (message && !(this.rng.chance(0.05) && this.faults)) this.deliver(message);
      this.trace.push("deliver");
    } else if (r < 34) {
      if (this.pending.length > 0) {
        const [op] = this.pending.splice(this.rng.int(this.pending.length), 1);
        if (op && this.rng.chance(0.85)) op.land();
        else op?.lose();
        this.trace.push("land");
      }
    } else if (r < 48) {
      this.now += this.rng.pick(JUMPS);
      this.trace.push("time");
    } else if (r < 60) {
      this.spawn("heal", () => this.loop.runDue(this.now));
      this.trace.push("heal");
    } else if (r < 64) {
      this.spawn("cancel", () => this.loop.cancel(this.orderId));
      this.trace.push("cancel");
    } else if (r < 67) {
      this.loop.recheck(this.orderId);
      this.trace.push("recheck");
    } else if (r < 72) {
      this.gateway.answer(this.key, this.orderId, this.rng.chance(0.6));
      this.trace.push("answer");
    } else if (r < 75) {
      this.gateway.settle(this.key, this.orderId);
      this.trace.push("processing settles");
    } else if (r < 85) {
      this.deliverEvent();
      this.trace.push("event");
    } else if (r < 88) {
      // The shard's object restarts: what it had under way stops for good, its memory is new.
      for (let i = this.pending.length - 1; i >= 0; i--) {
        if (this.pending[i]?.owner.startsWith("shard#")) this.pending.splice(i, 1);
      }
      this.loop = this.#newLoop();
      this.trace.push("restart");
    } else if (r < 92) {
      this.stockDown = !this.stockDown;
      this.trace.push(`stock ${this.stockDown ? "down" : "up"}`);
    } else {
      // A consumer's message comes again (at least once delivery).
      this.deliver([this.orderId]);
      this.trace.push("redeliver");
    }
    await this.settle();
  }

  /** With the faults gone, lets time, the queue, the gateway and the shard do their work. */
  async drive() {
    this.faults = false;
    this.stockDown = false;
    for (let round = 0; round < 60; round++) {
      while (this.pending.length > 0) {
        this.pending.shift()?.land();
        await this.settle();
      }
      while (this.gateway.events.some((event) => !this.delivered.has(event.eventId))) this.deliverEvent();
      const row = this.order();
      if (row.status !== "pending_payment" && owedWork(row, this.now) === null) return;
      this.now += 61_000;
      this.gateway.settle(this.key, this.orderId);
      this.spawn("heal", () => this.loop.runDue(this.now));
      await this.settle();
      for (const message of this.queue.splice(0)) this.deliver(message);
      await this.settle();
    }
    this.failures.push(`the order did not end: ${JSON.stringify(this.order())}`);
  }
}

/** Keeps SHA-256 (allowance names) deterministic: answered in a microtask, not a thread-pool turn. */
const digests = new Map<string, ArrayBuffer>();
const realDigest = crypto.subtle.digest.bind(crypto.subtle);

beforeAll(async () => {
  const texts = ["c0", "c1", "c2"].flatMap((card) => [1, 2].map((quantity) => ({ card, quantity })));
  vi.spyOn(crypto.subtle, "digest").mockImplementation(async (algorithm, data) => {
    const bytes = new Uint8Array(ArrayBuffer.isView(data) ? data.buffer : (data as ArrayBuffer));
    const key = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
    const known = digests.get(key);
    if (known) return known.slice(0);
    const digest = await realDigest(algorithm, data as ArrayBuffer);
    digests.set(key, digest);
    return digest.slice(0);
  });
  for (const { card, quantity } of texts) {
    await cardAllowanceLines([{ ...LIMIT, quantity }], `fp_${card}`);
    await customerAllowanceLines([{ ...LIMIT, quantity }], EMAIL);
  }
});

afterAll(() => {
  vi.restoreAllMocks();
});

/** How the sequences ended, to show the simulation reaches every end (and not only the easy ones). */
const endings = new Map<string, number>();

async function run(seed: number): Promise<string[]> {
  const sim = new Simulation(seed);
  await sim.place();
  const steps = 4 + sim.rng.int(24);
  for (let i = 0; i < steps; i++) await sim.step();
  await sim.drive();
  const problems = [...sim.failures];
  const row = sim.order();
  const end = `${row.status}/${row.paymentStatus}${row.holds.some((hold) => hold.allowance === "card") ? "/card" : ""}`;
  endings.set(end, (endings.get(end) ?? 0) + 1);
  const paid = row.status === "paid";
  // The money agrees with the order: one live charge if it is paid, none otherwise, and a payment left
  // waiting for the buyer was withdrawn: passing it now charges nothing.
  sim.gateway.answer(sim.key, sim.orderId, true);
  const live = sim.gateway.live(sim.key);
  if (live !== (paid ? 1 : 0)) problems.push(`${row.status} order with ${live} live charges`);
  // Every hold the order recorded is settled as the order ended, at its own object: sold if it is
  // paid (but a card hold that lapsed before a late report brought it, which is not counted), never
  // sold if it is closed.
  for (const hold of row.holds) {
    const state = sim.stock.object(hold.sku).holds.get(sim.orderId)?.state;
    const lapsedCard = hold.allowance === "card" && state === "expired";
    if (paid && state !== "committed" && !lapsedCard)
      problems.push(`paid order's ${hold.allowance ?? "stock"} hold is ${state}`);
    if (!paid && state === "committed")
      problems.push(`closed order's ${hold.allowance ?? "stock"} hold is committed`);
  }
  // The stock agrees: sold to a paid order only, nothing left held (unrecorded holds run out).
  sim.now += 2 * HOLD_TTL_MS;
  for (const object of sim.stock.objects.values()) object.expireDue(sim.now);
  const sku = sim.stock.object(SKU);
  if (sku.committed !== (paid ? sim.quantity : 0))
    problems.push(`${row.status} order sold ${sku.committed} units`);
  if (sku.onHand + sku.committed !== 3) problems.push("units were created or lost");
  for (const [name, object] of sim.stock.objects) {
    if (object.reserved !== 0) {
      problems.push(
        `${name} still holds ${object.reserved}: ${JSON.stringify([...object.holds])}; order ${JSON.stringify(row)}`,
      );
    }
  }
  const customer = row.holds.find((hold) => hold.allowance === "customer");
  const spent = customer ? sim.stock.object(customer.sku).committed : -1;
  if (spent !== (paid ? sim.quantity : 0)) problems.push(`the customer's allowance spent ${spent}`);
  // The shop was told once of how the order ended.
  const told = sim.store.outbox.map((event) => event.type);
  const ends = told.filter(
    (type) => type === "order.paid" || type === "order.payment_failed" || type === "order.cancelled",
  );
  if (told.filter((type) => type === "order.created").length !== 1)
    problems.push("order.created not told once");
  if (ends.length !== 1) problems.push(`its end told ${ends.length} times: ${ends.join(", ")}`);
  if (problems.length > 0 || ONLY !== null) problems.push(`steps: ${sim.trace.join(", ")}`);
  return ONLY !== null && problems.length === 1 ? [] : problems;
}

describe("the order lifecycle, simulated under faults (seeded, replayable)", () => {
  it(`keeps every invariant and ends every order with the money and the stock agreeing (${ONLY === null ? `${RUNS} sequences` : `seed ${ONLY}`})`, async () => {
    const first = Number(process.env.LIFECYCLE_FIRST_SEED ?? 1);
    const seeds = ONLY === null ? Array.from({ length: RUNS }, (_, i) => first + i) : [ONLY];
    for (const seed of seeds) {
      const problems = await run(seed);
      if (ONLY !== null) console.log(`seed ${seed}: ${problems.join("\n") || "ok"}`);
      if (problems.length > 0) {
        throw new Error(
          `seed ${seed} (replay: LIFECYCLE_SEED=${seed} npm run test:model):\n${problems.join("\n")}`,
        );
      }
    }
    console.log(`${seeds.length} sequences ended so:`, Object.fromEntries([...endings].sort()));
    if (seeds.length >= 1000) {
      // The sequences reach every way an order can end, not only the easy ones.
      const paid = ["paid/succeeded", "paid/succeeded/card"];
      const failed = ["payment_failed/failed", "payment_failed/refunded/card"];
      for (const end of [...paid, ...failed, "cancelled/not_charged", "cancelled/refunded"]) {
        expect(endings.get(end) ?? 0, end).toBeGreaterThan(0);
      }
    }
  }, 600_000);
});
