import type { OrderStatus } from "../../db/schema";
import type { AllowanceKind } from "../../inventory/allowances";
import type { PlannedLine, SkuHold } from "../../inventory/inventory.holds";
import { saleCounters } from "../../metrics/sale-metrics";
import type { PaymentAction } from "../../payments/gateway";
import { migrate } from "../../shared/sql-schema";
import type { Fulfillment, Refund } from "../lifecycle/after-sale";
import { type Announcement, timelineNotes } from "../lifecycle/announcements";
import type { AcceptedOrder, Dispute, OrderRow, PaymentStatus, StockState } from "../lifecycle/order";
import { KeyStore } from "./keys.store";
import { OutboxStore } from "./outbox.store";
import type { OrderStore } from "./ports";

/**
 * The SQLite storage of one order shard: its Idempotency-Keys, the orders it accepted with their
 * lifecycle, what each still owes (a due time with its own backoff), the gateway events it took and
 * the releases of abandoned checkout attempts. Every method is synchronous, so a caller that reads and
 * then writes cannot be interleaved with another request.
 */
const MIGRATIONS = [
  `CREATE TABLE keys (
     key_hash TEXT PRIMARY KEY,
     fingerprint TEXT NOT NULL,
     state TEXT NOT NULL,
     order_id TEXT NOT NULL,
     token INTEGER NOT NULL,
     locked_until INTEGER NOT NULL,
     lines TEXT NOT NULL,
     response TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX keys_expiry ON keys (expires_at);
   CREATE INDEX keys_claims ON keys (state, locked_until);
   CREATE TABLE orders (
     id TEXT PRIMARY KEY,
     accepted TEXT NOT NULL,
     status TEXT NOT NULL,
     failure_reason TEXT,
     payment_status TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     unknown_attempts INTEGER NOT NULL DEFAULT 0,
     lease_until INTEGER,
     charge_id TEXT,
     intent_id TEXT,
     charge_in_doubt INTEGER NOT NULL DEFAULT 0,
     stock TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     due_at INTEGER,
     due_attempts INTEGER NOT NULL DEFAULT 0,
     version INTEGER NOT NULL DEFAULT 1,
     projected INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX orders_due ON orders (due_at) WHERE due_at IS NOT NULL;
   CREATE INDEX orders_unprojected ON orders (id) WHERE projected < version;
   CREATE TABLE releases (
     order_id TEXT PRIMARY KEY,
     lines TEXT NOT NULL,
     due_at INTEGER NOT NULL,
     due_attempts INTEGER NOT NULL DEFAULT 0
   );`,
  `CREATE TABLE gateway_events (
     id TEXT PRIMARY KEY,
     order_id TEXT NOT NULL,
     type TEXT NOT NULL,
     received_at INTEGER NOT NULL
   );`,
  `ALTER TABLE orders ADD COLUMN action TEXT;
   ALTER TABLE orders ADD COLUMN action_until INTEGER;
   ALTER TABLE orders ADD COLUMN event_at INTEGER;
   ALTER TABLE orders ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE orders ADD COLUMN dispute TEXT;
   CREATE INDEX gateway_events_age ON gateway_events (received_at);`,
  // The order's holds once they differ from checkout's (the paying card's allowance was added).
  "ALTER TABLE orders ADD COLUMN holds TEXT;",
  // Holds reported after the order's stock was settled; a claim is fenced by its order id alone.
  `ALTER TABLE orders ADD COLUMN late_holds TEXT;
   ALTER TABLE keys DROP COLUMN token;`,
  // The day after the sale: the shop's refunds and fulfilments, and what happened to each order.
  `ALTER TABLE orders ADD COLUMN refunds TEXT;
   ALTER TABLE orders ADD COLUMN fulfillments TEXT;
   ALTER TABLE orders ADD COLUMN cancelled_at TEXT;
   CREATE TABLE timeline (
     seq INTEGER PRIMARY KEY,
     order_id TEXT NOT NULL,
     at INTEGER NOT NULL,
     event TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX timeline_order ON timeline (order_id, seq);`,
  // Whether a fully refunded order's discount code use went back (orders before it: never owed).
  "ALTER TABLE orders ADD COLUMN uses_returned INTEGER NOT NULL DEFAULT 0;",
];

type RawOrder = {
  id: string;
  accepted: string;
  status: OrderStatus;
  failure_reason: string | null;
  payment_status: PaymentStatus;
  attempts: number;
  unknown_attempts: number;
  lease_until: number | null;
  charge_id: string | null;
  intent_id: string | null;
  charge_in_doubt: number;
  action: string | null;
  action_until: number | null;
  event_at: number | null;
  refunded: number;
  dispute: string | null;
  holds: string | null;
  late_holds: string | null;
  refunds: string | null;
  fulfillments: string | null;
  cancelled_at: string | null;
  uses_returned: number;
  stock: StockState;
  updated_at: string;
  due_at: number | null;
  due_attempts: number;
  version: number;
  projected: number;
};

const parsed = <T>(text: string | null, otherwise: T): T =>
  text === null ? otherwise : (JSON.parse(text) as T);

/**
 * Rows written before holds said their allowance kind, and before late holds had a list of their own,
 * read as they are written now: an allowance hold is known by its object's name (the one place the
 * name is read), and a paid order whose stock a late card hold had reopened owes that hold alone.
 */
const PREFIXES: [string, AllowanceKind][] = [
  ["~card~", "card"],
  ["~limit~", "customer"],
  ["~pass~", "pass"],
];

function upgraded(
  raw: RawOrder,
  holds: SkuHold[],
): { holds: SkuHold[]; lateHolds: SkuHold[]; stock: StockState } {
  const kinded = holds.map((hold) => {
    const kind = hold.allowance ?? PREFIXES.find(([prefix]) => hold.sku.startsWith(prefix))?.[1];
    return kind ? { ...hold, allowance: kind } : hold;
  });
  const lateHolds = parsed<SkuHold[]>(raw.late_holds, []);
  if (raw.status === "paid" && raw.stock !== "committed") {
    const late = kinded.filter((hold) => hold.allowance === "card");
    return {
      holds: kinded.filter((hold) => hold.allowance !== "card"),
      lateHolds: [...lateHolds, ...late],
      stock: "committed",
    };
  }
  return { holds: kinded, lateHolds, stock: raw.stock };
}

function toOrder(raw: RawOrder): OrderRow {
  const accepted = JSON.parse(raw.accepted) as AcceptedOrder;
  return {
    ...accepted,
    ...upgraded(raw, parsed<SkuHold[]>(raw.holds, accepted.holds)),
    status: raw.status,
    failureReason: raw.failure_reason,
    paymentStatus: raw.payment_status,
    attempts: raw.attempts,
    unknownAttempts: raw.unknown_attempts,
    leaseUntil: raw.lease_until,
    chargeId: raw.charge_id,
    intentId: raw.intent_id,
    chargeInDoubt: raw.charge_in_doubt === 1,
    action: parsed<PaymentAction | null>(raw.action, null),
    actionUntil: raw.action_until,
    eventAt: raw.event_at,
    refunded: raw.refunded,
    dispute: parsed<Dispute | null>(raw.dispute, null),
    refunds: parsed<Refund[]>(raw.refunds, []),
    fulfillments: parsed<Fulfillment[]>(raw.fulfillments, []),
    cancelledAt: raw.cancelled_at,
    usesReturned: raw.uses_returned === 1,
    updatedAt: raw.updated_at,
    dueAt: raw.due_at,
    dueAttempts: raw.due_attempts,
    version: raw.version,
    projected: raw.projected,
  };
}

/** The part of a row checkout accepted: written once, never changed. */
function acceptedOf(order: OrderRow): AcceptedOrder {
  return {
    id: order.id,
    keyHash: order.keyHash,
    tokenHash: order.tokenHash,
    items: order.items,
    total: order.total,
    ...(order.pricing ? { pricing: order.pricing } : {}),
    customer: order.customer,
    ...(order.shippingAddress ? { shippingAddress: order.shippingAddress } : {}),
    paymentToken: order.paymentToken,
    ...(order.cardLimits ? { cardLimits: order.cardLimits } : {}),
    holds: order.holds,
    holdExpiresAt: order.holdExpiresAt,
    createdAt: order.createdAt,
  };
}

/** The lifecycle and bookkeeping columns, in the order both statements below name them. */
const LIFECYCLE_COLUMNS = `status, failure_reason, payment_status, attempts, unknown_attempts, lease_until,
  charge_id, intent_id, charge_in_doubt, action, action_until, event_at, refunded, dispute, holds,
  late_holds, refunds, fulfillments, cancelled_at, uses_returned, stock, updated_at, due_at, due_attempts,
  version`;

const json = (value: unknown) => (value === null ? null : JSON.stringify(value));

function lifecycleValues(order: OrderRow): (string | number | null)[] {
  return [
    order.status,
    order.failureReason,
    order.paymentStatus,
    order.attempts,
    order.unknownAttempts,
    order.leaseUntil,
    order.chargeId,
    order.intentId,
    order.chargeInDoubt ? 1 : 0,
    json(order.action),
    order.actionUntil,
    order.eventAt,
    order.refunded,
    json(order.dispute),
    JSON.stringify(order.holds),
    order.lateHolds.length > 0 ? JSON.stringify(order.lateHolds) : null,
    order.refunds.length > 0 ? JSON.stringify(order.refunds) : null,
    order.fulfillments.length > 0 ? JSON.stringify(order.fulfillments) : null,
    order.cancelledAt,
    order.usesReturned ? 1 : 0,
    order.stock,
    order.updatedAt,
    order.dueAt,
    order.dueAttempts,
    order.version,
  ];
}

const UPDATE = `UPDATE orders SET (${LIFECYCLE_COLUMNS}) = (${Array(25).fill("?").join(", ")}) WHERE id = ?`;
const INSERT = `INSERT INTO orders (id, accepted, ${LIFECYCLE_COLUMNS}) VALUES (${Array(27).fill("?").join(", ")})`;

export class ShardStore implements OrderStore {
  readonly #sql: SqlStorage;
  readonly #storage: DurableObjectStorage;
  /** The Idempotency-Keys hashed to this shard, with their claims and stored answers. */
  readonly keys: KeyStore;
  /** Webhook events, each written in the transaction of the change that causes it. */
  readonly outbox: OutboxStore;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.keys = new KeyStore(storage.sql);
    this.outbox = new OutboxStore(storage.sql);
  }

  migrate() {
    migrate(this.#sql, MIGRATIONS);
    this.transaction(() => this.outbox.create());
  }

  transaction<T>(work: () => T): T {
    return this.#storage.transactionSync(work);
  }

  insert(order: OrderRow, orderToken?: string) {
    const at = Date.parse(order.createdAt);
    this.#sql.exec(INSERT, order.id, JSON.stringify(acceptedOf(order)), ...lifecycleValues(order));
    this.outbox.add({ type: "order.created" }, order, at, orderToken);
    // No timeline row for "created": the order's own createdAt says it (see timeline), one write fewer.
  }

  write(before: OrderRow, order: OrderRow, announce: Announcement[], now: number) {
    this.#sql.exec(UPDATE, ...lifecycleValues(order), order.id);
    // Units count as sold on the ops page once their order is paid, not when checkout accepts it.
    if (order.status === "paid" && before.status !== "paid") saleCounters.units(order.items, now);
    for (const announcement of announce) this.outbox.add(announcement, order, now);
    this.#note(order.id, now, timelineNotes(before, order, announce));
  }

  #note(orderId: string, at: number, notes: { event: string; detail: string | null }[]) {
    for (const { event, detail } of notes) {
      this.#sql.exec(
        "INSERT INTO timeline (order_id, at, event, detail) VALUES (?, ?, ?, ?)",
        orderId,
        at,
        event,
        detail,
      );
    }
  }

  /**
   * What happened to an order, oldest first. Its first entry, "created", is derived from the order's
   * createdAt; orders recorded before that was so have it stored as their first row instead.
   */
  timeline(order: OrderRow): { at: string; event: string; detail?: string }[] {
    const stored = this.#sql
      .exec<{ at: number; event: string; detail: string | null }>(
        "SELECT at, event, detail FROM timeline WHERE order_id = ? ORDER BY seq",
        order.id,
      )
      .toArray()
      .map(({ at, event, detail }) => ({
        at: new Date(at).toISOString(),
        event,
        ...(detail ? { detail } : {}),
      }));
    return stored[0]?.event === "created" ? stored : [{ at: order.createdAt, event: "created" }, ...stored];
  }

  order(id: string): OrderRow | null {
    const raw = this.#sql.exec<RawOrder>("SELECT * FROM orders WHERE id = ?", id).toArray()[0];
    return raw ? toOrder(raw) : null;
  }

  /** Whether the gateway's event with this id was already taken (webhooks arrive at least once). */
  hasGatewayEvent(id: string): boolean {
    return this.#sql.exec("SELECT 1 FROM gateway_events WHERE id = ?", id).toArray().length > 0;
  }

  recordGatewayEvent(id: string, orderId: string, type: string, now: number) {
    this.#sql.exec(
      "INSERT INTO gateway_events (id, order_id, type, received_at) VALUES (?, ?, ?, ?)",
      id,
      orderId,
      type,
      now,
    );
  }

  /** Forgets gateway events received before `before` (their sender stopped retrying them long ago). */
  pruneGatewayEvents(before: number, limit: number): number {
    return this.#sql.exec(
      "DELETE FROM gateway_events WHERE id IN (SELECT id FROM gateway_events WHERE received_at < ? LIMIT ?)",
      before,
      limit,
    ).rowsWritten;
  }

  dueOrders(now: number, limit: number): OrderRow[] {
    return this.#sql
      .exec<RawOrder>("SELECT * FROM orders WHERE due_at <= ? ORDER BY due_at LIMIT ?", now, limit)
      .toArray()
      .map(toOrder);
  }

  nextDue(): number | null {
    // The IS NOT NULL lets SQLite answer from the partial index orders_due; without it, MIN scans every
    // order (reading each row's accepted JSON on the way), once per shard call that re-arms the alarm.
    return this.#sql
      .exec<{ next: number | null }>("SELECT MIN(due_at) AS next FROM orders WHERE due_at IS NOT NULL")
      .one().next;
  }

  unprojected(limit: number): OrderRow[] {
    return this.#sql
      .exec<RawOrder>("SELECT * FROM orders WHERE projected < version ORDER BY id LIMIT ?", limit)
      .toArray()
      .map(toOrder);
  }

  hasUnprojected(): boolean {
    return this.#sql.exec("SELECT 1 FROM orders WHERE projected < version LIMIT 1").toArray().length > 0;
  }

  markProjected(versions: { id: string; version: number }[]) {
    this.#sql.exec(
      `UPDATE orders SET projected = written.value->>'version'
       FROM json_each(?) AS written
       WHERE orders.id = written.value->>'id' AND orders.projected < written.value->>'version'`,
      JSON.stringify(versions),
    );
  }

  /** An abandoned attempt's order id, whose holds must be given back; retried until it is. */
  scheduleRelease(orderId: string, lines: PlannedLine[], dueAt: number) {
    this.#sql.exec(
      "INSERT INTO releases (order_id, lines, due_at) VALUES (?, ?, ?) ON CONFLICT (order_id) DO NOTHING",
      orderId,
      JSON.stringify(lines),
      dueAt,
    );
  }

  dueReleases(now: number, limit: number): { orderId: string; lines: PlannedLine[]; dueAttempts: number }[] {
    return this.#sql
      .exec<{ order_id: string; lines: string; due_attempts: number }>(
        "SELECT order_id, lines, due_attempts FROM releases WHERE due_at <= ? ORDER BY due_at LIMIT ?",
        now,
        limit,
      )
      .toArray()
      .map((row) => ({ orderId: row.order_id, lines: JSON.parse(row.lines), dueAttempts: row.due_attempts }));
  }

  releaseDone(orderId: string) {
    this.#sql.exec("DELETE FROM releases WHERE order_id = ?", orderId);
  }

  releaseFailed(orderId: string, dueAt: number) {
    this.#sql.exec(
      "UPDATE releases SET due_at = ?, due_attempts = due_attempts + 1 WHERE order_id = ?",
      dueAt,
      orderId,
    );
  }

  nextRelease(): number | null {
    return this.#sql.exec<{ next: number | null }>("SELECT MIN(due_at) AS next FROM releases").one().next;
  }

  owedCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM orders WHERE due_at IS NOT NULL").one().n;
  }

  /** Counts for the ops page, each read through an index over what is owed or in flight. */
  counts(now: number) {
    const one = (query: string, ...args: unknown[]) => this.#sql.exec<{ n: number }>(query, ...args).one().n;
    return {
      owed: this.owedCount(),
      overdue: one("SELECT COUNT(*) AS n FROM orders WHERE due_at <= ?", now - 60_000),
      notStarted: one(
        "SELECT COUNT(*) AS n FROM orders WHERE due_at IS NOT NULL AND status = 'pending_payment' AND attempts = 0",
      ),
      unprojected: one("SELECT COUNT(*) AS n FROM orders WHERE projected < version"),
      claimsInFlight: one("SELECT COUNT(*) AS n FROM keys WHERE state = 'in_flight'"),
      releasesOwed: one("SELECT COUNT(*) AS n FROM releases"),
    };
  }
}
