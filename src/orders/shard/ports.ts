import type { HoldOutcome, OrderHolds, RestockAnswer, ReturnShare } from "../../inventory/inventory.holds";
import type { PaymentGateway } from "../../payments/gateway";
import type { Announcement } from "../lifecycle/announcements";
import type { OrderRow } from "../lifecycle/order";
import type { LifecycleSettings } from "../lifecycle/timing";

/**
 * What the order loop (loop.ts) needs of the world, as interfaces: the shard's storage, the inventory,
 * the gateway, the payments queue, a clock. The order shard gives it the real ones (adapters.ts); the
 * model test gives it models that lose, delay, duplicate and reorder, on a seeded clock.
 */

/**
 * The shard's orders, synchronous as SQLite is in a Durable Object: a caller that reads and then
 * writes is never interleaved. `transaction` nests (a savepoint): a failed write inside one undoes that
 * write alone.
 */
export interface OrderStore {
  transaction<T>(work: () => T): T;
  order(id: string): OrderRow | null;
  /** A new order, announced with `order.created` (its buyer's email carries the order's token). */
  insert(order: OrderRow, orderToken?: string): void;
  /**
   * The order as it is now (its lifecycle and bookkeeping) over what it was, with the events the change
   * announces (and its timeline notes).
   */
  write(before: OrderRow, order: OrderRow, announce: Announcement[], now: number): void;
  /** Orders whose due time has come, earliest first. */
  dueOrders(now: number, limit: number): OrderRow[];
  nextDue(): number | null;
  owedCount(): number;
  /** Whether the gateway's event with this id was already taken (webhooks arrive at least once). */
  hasGatewayEvent(id: string): boolean;
  recordGatewayEvent(id: string, orderId: string, type: string, now: number): void;
}

/** The inventory as the loop uses it: one call per object for many orders, answered per order. */
export interface StockPort {
  /** Pins holds (no expiry until a decision). */
  pin(orders: OrderHolds[]): Promise<Map<string, HoldOutcome[]>>;
  /** Commits (sells) holds, or releases a closed order's (no hold is taken for it again). */
  settle(orders: OrderHolds[], to: "committed" | "released"): Promise<Map<string, HoldOutcome[]>>;
  /** Gives back holds of closed orders that a commit whose decision was lost had sold. */
  unsell(orders: OrderHolds[]): Promise<Map<string, HoldOutcome[]>>;
  /**
   * Puts refunded units of paid orders back on the shelf, each share once under its key; answers per
   * key whether it is done (or was before), refused for good, or unreachable.
   */
  restock(shares: ReturnShare[]): Promise<Map<string, RestockAnswer>>;
}

/** The payment gateway as the loop uses it, and the turns its rate allows. */
interface GatewayPort {
  gateway(): Promise<PaymentGateway>;
  turns(wanted: number): Promise<{ granted: number; nextInMs: number }>;
}

type Clock = { now(): number; random(): number };

type Log = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export type LoopPorts = {
  store: OrderStore;
  stock: StockPort;
  payments: GatewayPort;
  /** Hands orders to the payments queue; a lost hand-on is covered by each order's due time. */
  handOn(orderIds: string[]): Promise<void>;
  /** Asks to be woken at `at` (the shard's alarm), unless it is already asked for sooner. */
  wake(at: number): void;
  clock: Clock;
  settings: LifecycleSettings;
  log: Log;
};
