import type {
  CartReservation,
  HoldOutcome,
  OrderHolds,
  PlannedLine,
  SkuHold,
} from "../../src/inventory/inventory.holds";
import type { EventType } from "../../src/orders/events.schemas";
import type { Announcement } from "../../src/orders/lifecycle/announcements";
import type { OrderRow } from "../../src/orders/lifecycle/order";
import type { OrderStore, StockPort } from "../../src/orders/shard/ports";
import type {
  CardFingerprint,
  ChargeLookup,
  ChargeOutcome,
  ChargeRef,
  ChargeRequest,
  GatewayEvent,
  PaymentGateway,
  RefundOutcome,
} from "../../src/payments/gateway";

/**
 * Models of what the order loop talks to, for the seeded simulation in lifecycle.sim.test.ts: a clock
 * and a random source, the shard's storage (with nested transactions), inventory objects with the
 * same hold semantics as SkuInventory, and a gateway that keeps every promise Stripe keeps (one payment
 * per key, a withdrawn key refuses a later charge, a processing payment cannot be withdrawn). Any call
 * may be held back by the simulation (it lands later, after leases ran out) or fail.
 */

/** mulberry32: a small seeded generator, so a failing sequence replays exactly from its seed. */
export function seeded(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  };
}
export type Rng = ReturnType<typeof seeded>;

/** Frozen through: the loop must never change a row it read in place (the SQLite store would not see it). */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * The shard's SQLite, in memory: orders, the outbox, gateway event ids; transactions nest. A row is
 * never changed in place (a write stores it frozen, and the loop builds each next row anew), so a
 * transaction keeps what it may have to restore by reference.
 */
export class MemoryStore implements OrderStore {
  orders = new Map<string, OrderRow>();
  outbox: { orderId: string; type: EventType; status: string }[] = [];
  gatewayEvents = new Set<string>();

  transaction<T>(work: () => T): T {
    const saved = {
      orders: new Map(this.orders),
      outbox: this.outbox.length,
      events: new Set(this.gatewayEvents),
    };
    try {
      return work();
    } catch (error) {
      this.orders = saved.orders;
      this.outbox.length = saved.outbox;
      this.gatewayEvents = saved.events;
      throw error;
    }
  }

  order(id: string): OrderRow | null {
    return this.orders.get(id) ?? null;
  }

  insert(order: OrderRow) {
    if (this.orders.has(order.id)) throw new Error("UNIQUE constraint failed: orders.id");
    this.orders.set(order.id, deepFreeze(order));
    this.outbox.push({ orderId: order.id, type: "order.created", status: order.status });
  }

  write(_before: OrderRow, order: OrderRow, announce: Announcement[]) {
    if (!this.orders.has(order.id)) throw new Error("no such order");
    this.orders.set(order.id, deepFreeze(order));
    for (const { type } of announce) this.outbox.push({ orderId: order.id, type, status: order.status });
  }

  dueOrders(now: number, limit: number): OrderRow[] {
    return [...this.orders.values()]
      .filter((row) => row.dueAt !== null && row.dueAt <= now)
      .sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0))
      .slice(0, limit);
  }

  nextDue(): number | null {
    const times = [...this.orders.values()].flatMap((row) => (row.dueAt === null ? [] : [row.dueAt]));
    return times.length > 0 ? Math.min(...times) : null;
  }

  owedCount(): number {
    return [...this.orders.values()].filter((row) => row.dueAt !== null).length;
  }

  hasGatewayEvent(id: string): boolean {
    return this.gatewayEvents.has(id);
  }

  recordGatewayEvent(id: string) {
    this.gatewayEvents.add(id);
  }
}

type HoldState = "held" | "committed" | "released" | "expired";
type ModelHold = { quantity: number; state: HoldState; pinned: boolean; expiresAt: number };

/** One inventory object (a SKU or an allowance), with SkuInventory's semantics for holds. */
class StockObject {
  onHand: number;
  committed = 0;
  readonly holds = new Map<string, ModelHold>();
  /** Orders closed here: no hold is taken for them again. */
  readonly closed = new Set<string>();

  constructor(onHand: number) {
    this.onHand = onHand;
  }

  get reserved() {
    return [...this.holds.values()].reduce(
      (sum, hold) => sum + (hold.state === "held" ? hold.quantity : 0),
      0,
    );
  }

  expireDue(now: number) {
    for (const hold of this.holds.values()) {
      if (hold.state === "held" && !hold.pinned && hold.expiresAt <= now) hold.state = "expired";
    }
  }

  reserve(orderId: string, quantity: number, expiresAt: number, now: number) {
    this.expireDue(now);
    if (this.closed.has(orderId)) return { ok: false as const, available: this.onHand - this.reserved };
    const existing = this.holds.get(orderId);
    if (existing?.state === "held")
      return { ok: true as const, quantity: existing.quantity, expiresAt: existing.expiresAt };
    if (existing?.state === "committed")
      return { ok: false as const, available: this.onHand - this.reserved };
    const available = this.onHand - this.reserved;
    if (available < quantity) return { ok: false as const, available };
    this.holds.set(orderId, { quantity, state: "held", pinned: false, expiresAt });
    return { ok: true as const, quantity, expiresAt };
  }

  pin(orderId: string, now: number): HoldOutcome["result"] {
    this.expireDue(now);
    const hold = this.holds.get(orderId);
    if (!hold) return { ok: false, error: "no_hold" };
    if (hold.state !== "held") return { ok: false, error: hold.state };
    const replayed = hold.pinned;
    hold.pinned = true;
    return { ok: true, quantity: hold.quantity, replayed };
  }

  /** A committed hold of an order that did not end paid: its units go back to the shelf. */
  unsell(orderId: string, now: number): HoldOutcome["result"] {
    this.closed.add(orderId);
    const hold = this.holds.get(orderId);
    if (hold?.state !== "committed") return this.settle(orderId, "released", now);
    hold.state = "released";
    this.onHand += hold.quantity;
    this.committed -= hold.quantity;
    return { ok: true, quantity: hold.quantity, replayed: false };
  }

  settle(orderId: string, to: "committed" | "released", now: number): HoldOutcome["result"] {
    this.expireDue(now);
    const hold = this.holds.get(orderId);
    if (!hold) return { ok: false, error: "no_hold" };
    if (hold.state === to) return { ok: true, quantity: hold.quantity, replayed: true };
    if (hold.state !== "held") return { ok: false, error: hold.state };
    hold.state = to;
    if (to === "committed") {
      this.onHand -= hold.quantity;
      this.committed += hold.quantity;
    }
    return { ok: true, quantity: hold.quantity, replayed: false };
  }
}

/** The inventory: objects by name, reached through calls the simulation may fail or hold back. */
export class ModelStock {
  readonly objects = new Map<string, StockObject>();
  constructor(private readonly now: () => number) {}

  stock(name: string, onHand: number) {
    this.objects.set(name, new StockObject(onHand));
  }

  object(name: string, allowance?: number): StockObject {
    let object = this.objects.get(name);
    if (!object) {
      object = new StockObject(allowance ?? 0);
      this.objects.set(name, object);
    }
    return object;
  }

  /** holdCart's semantics for one-bucket lines: all or nothing under the order's id. */
  hold(orderId: string, lines: PlannedLine[], expiresAtMs: number): CartReservation {
    const now = this.now();
    const holds: SkuHold[] = [];
    const over: CartReservation & { ok: false } = {
      ok: false,
      short: [],
      overAllowance: [],
      leftovers: false,
    };
    for (const line of lines) {
      const object = this.object(line.sku, line.allowance?.limit.max);
      const got = object.reserve(orderId, line.quantity, expiresAtMs, now);
      if (!got.ok) {
        if (line.allowance)
          over.overAllowance.push({ line: { ...line, allowance: line.allowance }, available: got.available });
        else over.short.push({ sku: line.sku, requested: line.quantity, available: got.available });
        continue;
      }
      holds.push({
        sku: line.sku,
        quantity: got.quantity,
        expiresAt: new Date(got.expiresAt).toISOString(),
        buckets: [{ bucket: 0, quantity: got.quantity }],
        ...(line.allowance ? { allowance: line.allowance.kind } : {}),
      });
    }
    if (over.short.length > 0 || over.overAllowance.length > 0) {
      for (const line of lines) this.object(line.sku).settle(orderId, "released", now);
      return over;
    }
    return { ok: true, holds, expiresAt: holds.map((hold) => hold.expiresAt).sort()[0] ?? "" };
  }

  /** The StockPort the loop uses; `down` makes every call answer unreachable. */
  port(down: () => boolean): StockPort {
    const per = (
      orders: OrderHolds[],
      call: (object: StockObject, orderId: string) => HoldOutcome["result"],
    ) => {
      const unreachable = down();
      return new Map(
        orders.map(({ orderId, holds }) => [
          orderId,
          holds.map((hold) => ({
            sku: hold.sku,
            bucket: 0,
            quantity: hold.quantity,
            result: unreachable
              ? { ok: false as const, error: "unreachable" as const }
              : call(this.object(hold.sku), orderId),
          })),
        ]),
      );
    };
    return {
      pin: async (orders) => per(orders, (object, orderId) => object.pin(orderId, this.now())),
      settle: async (orders, to) =>
        per(orders, (object, orderId) => {
          // The loop releases closed orders only: no hold is taken for them again.
          if (to === "released") object.closed.add(orderId);
          return object.settle(orderId, to, this.now());
        }),
      unsell: async (orders) => per(orders, (object, orderId) => object.unsell(orderId, this.now())),
      // The simulation makes no refunds of paid orders: nothing is ever put back.
      restock: async (shares) => new Map(shares.map((share) => [share.key, "refused" as const])),
    };
  }
}

type Payment = {
  charge: { id: string; status: "succeeded" | "refunded" } | null;
  open: { id: string; status: "requires_action" | "processing" | "failed" | "canceled" | "succeeded" } | null;
  withdrawn: boolean;
};

/** What a charge call does when it reaches the gateway (chosen by the simulation per call). */
export type Behaviour =
  | "ok"
  | "declined"
  | "error_before"
  | "error_after"
  | "throttled"
  | "3ds"
  | "processing";

/**
 * The gateway, keeping Stripe's promises: one payment per idempotency key (a repeat answers the same
 * charge), a payment withdrawn (cancelled) before any charge refuses every later charge, a payment
 * waiting for the buyer can be withdrawn, a processing one cannot, and refunds are idempotent.
 */
export class ModelGateway {
  readonly payments = new Map<string, Payment>();
  readonly events: GatewayEvent[] = [];
  #ids = 0;

  payment(key: string): Payment {
    let payment = this.payments.get(key);
    if (!payment) {
      payment = { charge: null, open: null, withdrawn: false };
      this.payments.set(key, payment);
    }
    return payment;
  }

  #id(prefix: string) {
    this.#ids++;
    return `${prefix}_${this.#ids}`;
  }

  /** A charge as it reaches the gateway. */
  charge(request: ChargeRequest, behaviour: Behaviour): ChargeOutcome {
    const payment = this.payment(request.idempotencyKey);
    if (payment.charge) return { status: "succeeded", chargeId: payment.charge.id };
    if (payment.withdrawn) return { status: "declined", reason: "payment_intent_unexpected_state" };
    if (payment.open) {
      const { open } = payment;
      if (open.status === "requires_action")
        return {
          status: "requires_action",
          intentId: open.id,
          action: { type: "redirect_to_url", url: `/c/${open.id}` },
        };
      if (open.status === "processing") return { status: "processing", intentId: open.id };
      return { status: "declined", reason: "authentication_failed", intentId: open.id };
    }
    switch (behaviour) {
      case "ok":
        payment.charge = { id: this.#id("ch"), status: "succeeded" };
        return { status: "succeeded", chargeId: payment.charge.id };
      case "declined":
        return { status: "declined", reason: "card_declined" };
      case "error_before":
        return { status: "unknown", reason: "503 before anything was done" };
      case "error_after":
        payment.charge = { id: this.#id("ch"), status: "succeeded" };
        return { status: "unknown", reason: "504 after the charge" };
      case "throttled":
        return { status: "throttled", retryAfterMs: 1000 };
      case "3ds":
        payment.open = { id: this.#id("pi"), status: "requires_action" };
        return {
          status: "requires_action",
          intentId: payment.open.id,
          action: { type: "redirect_to_url", url: `/c/${payment.open.id}` },
        };
      case "processing":
        payment.open = { id: this.#id("pi"), status: "processing" };
        return { status: "processing", intentId: payment.open.id };
    }
  }

  lookup(key: string): ChargeLookup {
    const payment = this.payment(key);
    if (payment.charge) return { status: payment.charge.status, chargeId: payment.charge.id };
    const { open } = payment;
    if (open?.status === "requires_action") {
      return {
        status: "requires_action",
        intentId: open.id,
        action: { type: "redirect_to_url", url: `/c/${open.id}` },
      };
    }
    if (open?.status === "processing") return { status: "pending", intentId: open.id };
    return open ? { status: "none", intentId: open.id } : { status: "none" };
  }

  abandon(key: string): ChargeLookup {
    const payment = this.payment(key);
    if (!payment.charge && payment.open?.status !== "processing") {
      if (payment.open?.status === "requires_action") payment.open.status = "canceled";
      payment.withdrawn = true;
    }
    return this.lookup(key);
  }

  refund(chargeId: string): RefundOutcome {
    for (const payment of this.payments.values()) {
      if (payment.charge?.id === chargeId) payment.charge.status = "refunded";
    }
    return { status: "succeeded", refundId: `re_${chargeId}` };
  }

  /** The buyer answers the challenge of the payment under `key`, if it waits for them. */
  answer(key: string, orderId: string, passes: boolean) {
    const payment = this.payment(key);
    if (payment.open?.status !== "requires_action") return;
    if (passes) {
      payment.open.status = "succeeded";
      payment.charge ??= { id: this.#id("ch"), status: "succeeded" };
    } else payment.open.status = "failed";
    this.#announce(orderId, passes ? "payment_intent.succeeded" : "payment_intent.payment_failed");
  }

  /** A processing payment settles (it succeeds), and the gateway says so. */
  settle(key: string, orderId: string) {
    const payment = this.payment(key);
    if (payment.open?.status !== "processing") return;
    payment.open.status = "succeeded";
    payment.charge ??= { id: this.#id("ch"), status: "succeeded" };
    this.#announce(orderId, "payment_intent.succeeded");
  }

  #announce(orderId: string, type: string) {
    this.events.push({ eventId: this.#id("evt"), orderId, type });
  }

  /** Live charges under a key: succeeded and not refunded. */
  live(key: string): number {
    const charge = this.payment(key).charge;
    return charge?.status === "succeeded" ? 1 : 0;
  }

  /** The PaymentGateway the loop and the consumer use, through `call` (which may hold a call back). */
  port(call: <T>(work: () => T) => Promise<T>, behaviour: () => Behaviour): PaymentGateway {
    return {
      fingerprint: (token) =>
        call((): CardFingerprint => {
          const card = /\.card_(\w+)$/.exec(token)?.[1];
          return card ? { status: "card", fingerprint: `fp_${card}` } : { status: "none" };
        }),
      chargeAll: (requests) => call(() => requests.map((request) => this.charge(request, behaviour()))),
      lookup: (ref: ChargeRef) => call(() => this.lookup(ref.idempotencyKey)),
      abandon: (ref: ChargeRef) => call(() => this.abandon(ref.idempotencyKey)),
      refund: (chargeId) => call(() => this.refund(chargeId)),
      // The order loop never holds a card: a call here is a bug in the model.
      authorize: notModelled,
      capture: notModelled,
      cancelAuthorization: notModelled,
      lookupAuthorization: notModelled,
    };
  }
}

function notModelled(): never {
  throw new Error("authorizations are not part of the order loop's model");
}
