import {
  everyBucket,
  type HoldOutcome,
  type OrderHolds,
  pinOrders,
  releaseBuckets,
  settleOrders,
} from "../../inventory/inventory.holds";
import { chargeRef, refundKey } from "../../payments/gateway";
import { gatewayTurns } from "../../payments/gateway-pacer.do";
import { gatewayFor } from "../../payments/gateways";
import { logEvent } from "../../shared/log";
import {
  backoffMs,
  close,
  dueAtFor,
  FLUSH_DELAY_MS,
  owedWork,
  PROJECT_EVERY_MS,
  RESEND_AFTER_MS,
  type Work,
} from "../lifecycle/lifecycle";
import type { OrderChange, OrderRow } from "../lifecycle/order";
import type { ShardStore } from "./orders.store";
import { OutboxFlush } from "./outbox.flush";
import { projectOrders } from "./projection";

export type HealReport = {
  /** Orders handed to the payment queue again (their message was lost, or their retry came due). */
  resent: number;
  /** Pieces of owed work finished: stock committed or given back, refunds, verifications, expiries. */
  settled: number;
  /** Pieces of owed work that failed this time; each is retried on its own backoff. */
  failed: number;
  /** Orders that still owe something after this run. */
  stillOwed: number;
  /** Orders written to D1. */
  projected: number;
  /** Holds of abandoned checkout attempts given back. */
  released: number;
  expiredKeys: number;
};

const DUE_BATCH = 200;
/** Stripe retries an event for up to 3 days; an id is remembered a week, then forgotten. */
const GATEWAY_EVENT_RETENTION_MS = 7 * 24 * 3600 * 1000;
const PROJECT_BATCH = 500;
const MESSAGE_ORDERS = 200;
/** Orders one queue message hands on: the queue's own limit is 128 KB a message. */
const orderChunks = (ids: string[]) =>
  Array.from({ length: Math.ceil(ids.length / MESSAGE_ORDERS) }, (_, i) =>
    ids.slice(i * MESSAGE_ORDERS, (i + 1) * MESSAGE_ORDERS),
  );

type Tally = { settled: number; failed: number; resent: number };

/** What one step of owed work came to for an order: a change to write, or "try again later". */
export type Step = OrderChange | "retry";

const unreachable = ({ result }: HoldOutcome) => !result.ok && result.error === "unreachable";
const isDue = (at: number | null, now: number) => at !== null && at <= now;

const holdsOf = (row: OrderRow) => ({ orderId: row.id, holds: row.holds });

/**
 * What an order shard does with the work its orders owe: hand payments to the queue, commit or give
 * back stock, refund and verify charges, give back the holds of abandoned attempts, expire keys and
 * write the projection to D1. Every step re-reads the row after its I/O and applies its result only
 * if the order still owes that step, so a step done twice (inline and by the alarm) changes nothing
 * the second time; a step that fails moves that order's due time out on its own backoff.
 */
export class ShardWork {
  readonly #store: ShardStore;
  readonly #env: Env;
  readonly #atomically: (work: () => void) => void;
  /** Accepted orders not yet handed to the queue; their due time re-sends them if this is lost. */
  #unsent: string[] = [];
  #flushing: ReturnType<typeof setTimeout> | null = null;
  /**
   * Orders whose payment report is being applied right now (its stock step is under way): nothing
   * else decides them meanwhile, so the report's decision and its stock step land in one write.
   */
  readonly settling = new Set<string>();
  #projectAt = 0;
  #projectFailures = 0;
  /** Hands the webhook outbox to its queue, at most once a second, like the projection. */
  readonly #webhooks: OutboxFlush;

  constructor(store: ShardStore, env: Env, atomically: (work: () => void) => void) {
    this.#store = store;
    this.#env = env;
    this.#atomically = atomically;
    this.#webhooks = new OutboxFlush(store.outbox, env.WEBHOOKS);
  }

  /**
   * Queues an accepted order for the next hand-on, a moment from now, in one message with the others
   * accepted meanwhile; answers when to hand it on again if the consumer has not taken it by then.
   * The moment is kept in memory only: if this instance goes, the due time covers it.
   */
  handOn(orderId: string, now: number): number {
    this.#unsent.push(orderId);
    this.#flushing ??= setTimeout(() => {
      this.#flushing = null;
      void this.#send(this.#unsent.splice(0));
    }, FLUSH_DELAY_MS);
    return now + RESEND_AFTER_MS;
  }

  nextWorkAt(now: number): number | null {
    const times = [
      this.#store.nextDue(),
      this.#store.nextRelease(),
      this.#store.keys.nextClaimLockEnd(),
      this.#store.keys.nextExpiry(),
      this.#store.hasUnprojected() ? Math.max(now, this.#projectAt) : null,
      this.#webhooks.nextAt(now),
    ].filter((time): time is number => time !== null);
    return times.length > 0 ? Math.min(...times) : null;
  }

  /** `project`: write the projection now rather than at its next turn (the reconciler asks so). */
  async heal(now: number, project = false): Promise<HealReport> {
    const tally: Tally = { settled: 0, failed: 0, resent: 0 };
    const due = this.#store.dueOrders(now, DUE_BATCH).map((row) => row.id);
    const [, released] = await Promise.all([this.run(due, now, tally), this.#releaseAbandoned(now, tally)]);
    const expiredKeys = isDue(this.#store.keys.nextExpiry(), now)
      ? this.#store.keys.dropExpired(now, 1000)
      : 0;
    this.#store.pruneGatewayEvents(now - GATEWAY_EVENT_RETENTION_MS, 1000);
    if (project) this.#projectAt = 0;
    const [projected] = await Promise.all([
      this.#project(Date.now()),
      this.#webhooks.flush(Date.now(), project),
    ]);
    return { ...tally, released, expiredKeys, projected, stillOwed: this.#store.owedCount() };
  }

  /** Does what each of these orders owes now, as far as it can. */
  async run(ids: string[], now: number, tally: Tally = { settled: 0, failed: 0, resent: 0 }) {
    const groups = new Map<Work, OrderRow[]>();
    const resend: string[] = [];
    this.#atomically(() => {
      for (const id of ids) {
        let row = this.#store.order(id);
        // Work that is not due yet (a retry backing off) waits for its time.
        if (!row || (row.dueAt !== null && row.dueAt > now) || this.settling.has(id)) continue;
        let work = owedWork(row, now);
        if (work === "expire") {
          this.#store.update(
            id,
            close(row, "payment_failed", "The stock hold expired before payment began", now),
            now,
          );
          tally.settled++;
          row = this.#store.order(id) as OrderRow;
          work = owedWork(row, now);
        }
        if (work === "pay" || work === "lapse") {
          resend.push(id);
          const dueAt = now + backoffMs(row.dueAttempts, RESEND_AFTER_MS);
          this.#store.update(id, { dueAt, dueAttempts: row.dueAttempts + 1 }, now);
        } else if (work === null || work === "await") {
          this.schedule(row, now);
        } else {
          groups.set(work, [...(groups.get(work) ?? []), row]);
        }
      }
    });
    tally.resent += resend.length;
    await Promise.all([
      this.#send(resend),
      this.#stock("commit", groups.get("commit") ?? [], tally),
      this.#stock("release", groups.get("release") ?? [], tally),
      this.#refund(groups.get("refund") ?? [], tally),
      this.#verify(groups.get("verify") ?? [], tally),
    ]);
    return tally;
  }

  /** Sets when a row next owes something: now, when its lease ends, or never. */
  schedule(row: OrderRow, now: number) {
    const dueAt = dueAtFor(row, now);
    if (dueAt !== row.dueAt) this.#store.update(row.id, { dueAt, dueAttempts: 0 }, now);
  }

  /** Applies a step's result to an order that still owes `work`, then schedules what comes next. */
  #apply(id: string, work: Work, change: (row: OrderRow) => OrderChange | "retry", tally: Tally) {
    const now = Date.now();
    this.#atomically(() => {
      const row = this.#store.order(id);
      if (!row || owedWork(row, now) !== work || this.settling.has(id)) return;
      const decided = change(row);
      if (decided === "retry") {
        tally.failed++;
        this.#store.update(
          id,
          { dueAt: now + backoffMs(row.dueAttempts), dueAttempts: row.dueAttempts + 1 },
          now,
        );
        return;
      }
      tally.settled++;
      this.#store.update(id, decided, now);
      this.schedule(this.#store.order(id) as OrderRow, now);
    });
  }

  async #send(ids: string[]) {
    for (const orders of orderChunks(ids)) {
      // A lost send is not lost work: each order's due time hands it on again.
      await this.#env.PAYMENTS.send({ orders }).catch((error: unknown) =>
        logEvent("warn", "payment hand-on failed; will resend", {
          orders: orders.length,
          error: String(error),
        }),
      );
    }
  }

  /**
   * A charge succeeded: its stock is sold, then the order is paid. Holds not yet pinned (a charge
   * found by a lookup) are pinned first, which proves they are all still there; if any is gone, its
   * units may be sold to someone else, so the order fails and the charge is refunded. Answers each
   * order's change without applying it, so a caller can write it together with its own.
   */
  async commitStep(rows: OrderRow[]): Promise<Map<string, Step>> {
    const steps = new Map<string, Step>();
    const unpinned = rows.filter((row) => row.stock === "held");
    const pinned = unpinned.length > 0 ? await pinOrders(this.#env, unpinned.map(holdsOf)) : new Map();
    const ready: OrderRow[] = [];
    for (const row of rows) {
      const outcomes: HoldOutcome[] = pinned.get(row.id) ?? [];
      if (outcomes.some(unreachable)) steps.set(row.id, "retry");
      else if (outcomes.every(({ result }) => result.ok) || row.status === "paid") ready.push(row);
      else {
        const reason = "The stock was no longer held when the charge succeeded; the charge is refunded";
        steps.set(row.id, close(row, "payment_failed", reason, Date.now()));
      }
    }
    const committed =
      ready.length > 0 ? await settleOrders(this.#env, ready.map(holdsOf), "committed") : null;
    for (const row of ready) {
      const outcomes = committed?.get(row.id) ?? [];
      if (outcomes.every(({ result }) => result.ok)) {
        logEvent("info", "order paid", { orderId: row.id, chargeId: row.chargeId });
        steps.set(row.id, { status: "paid", stock: "committed" });
      } else if (outcomes.some(unreachable)) {
        steps.set(row.id, "retry");
      } else if (row.status === "paid") {
        // A paid order's units are sold; what failed is a hold a late report added afterwards (a card
        // allowance that lapsed before it was recorded). A paid order is never undone for it: the
        // allowance is not counted, which is logged.
        logEvent("warn", "a hold added to a paid order had lapsed; it is not counted", {
          orderId: row.id,
          outcomes,
        });
        steps.set(row.id, { stock: "committed" });
      } else {
        // Pinned holds cannot lapse, so this is a fault worth a look: the order is refunded.
        logEvent("error", "a pinned hold could not be committed", { orderId: row.id, outcomes });
        const reason = "The stock could not be committed; the charge is refunded";
        steps.set(row.id, close(row, "payment_failed", reason, Date.now()));
      }
    }
    return steps;
  }

  /** Gives a closed order's held units back. Answers each order's change without applying it. */
  async releaseStep(rows: OrderRow[]): Promise<Map<string, Step>> {
    const steps = new Map<string, Step>();
    if (rows.length === 0) return steps;
    const released = await settleOrders(this.#env, rows.map(holdsOf), "released");
    for (const row of rows) {
      const outcomes = released.get(row.id) ?? [];
      if (outcomes.some(unreachable)) {
        steps.set(row.id, "retry");
        continue;
      }
      const sold = outcomes.filter(({ result }) => !result.ok && result.error === "committed");
      if (sold.length > 0)
        logEvent("error", "a closed order's units were committed", { orderId: row.id, sold });
      steps.set(row.id, { stock: "released" });
    }
    return steps;
  }

  /**
   * Pins holds added to orders that stay unpaid. An order whose holds could not all be pinned is
   * marked `held`: its next attempt (or its commit) pins every hold again before anything is charged.
   */
  async pinStep(added: OrderHolds[]): Promise<Map<string, Step>> {
    const steps = new Map<string, Step>();
    if (added.length === 0) return steps;
    const pinned = await pinOrders(this.#env, added);
    for (const { orderId } of added) {
      const outcomes = pinned.get(orderId) ?? [];
      if (!outcomes.every(({ result }) => result.ok)) {
        logEvent("warn", "an added hold could not be pinned; the next attempt pins it", {
          orderId,
          outcomes,
        });
        steps.set(orderId, { stock: "held" });
      }
    }
    return steps;
  }

  /** Commits or releases the stock of these orders and applies what each step came to. */
  async #stock(work: "commit" | "release", rows: OrderRow[], tally: Tally) {
    if (rows.length === 0) return;
    const steps = await (work === "commit" ? this.commitStep(rows) : this.releaseStep(rows));
    for (const [id, step] of steps) this.#apply(id, work, () => step, tally);
  }

  /**
   * The rows whose gateway call the gateway's rate allows now; the others back off like a failed
   * step (refunds and checks are few, and never urgent to the second).
   */
  async #turns(rows: OrderRow[], work: Work, tally: Tally): Promise<OrderRow[]> {
    const { granted } = await gatewayTurns(this.#env, rows.length);
    for (const row of rows.slice(granted)) this.#apply(row.id, work, () => "retry", tally);
    return rows.slice(0, granted);
  }

  async #refund(due: OrderRow[], tally: Tally) {
    if (due.length === 0) return;
    const gateway = await gatewayFor(this.#env);
    const rows = await this.#turns(due, "refund", tally);
    await Promise.all(
      rows.map(async (order) => {
        const refunded = await gateway
          .refund(order.chargeId ?? "", refundKey(order.id))
          .then(() => true)
          .catch((error: unknown) => {
            logEvent("warn", "refund failed; will retry", { orderId: order.id, error: String(error) });
            return false;
          });
        if (refunded) logEvent("warn", "charge on a closed order refunded", { orderId: order.id });
        this.#apply(order.id, "refund", () => (refunded ? { paymentStatus: "refunded" } : "retry"), tally);
      }),
    );
  }

  /**
   * A closed order whose payment was left unknown, or open: ask the gateway whether a charge exists,
   * and withdraw a payment that could still be confirmed, so it cannot complete after the order
   * closed.
   */
  async #verify(due: OrderRow[], tally: Tally) {
    if (due.length === 0) return;
    const gateway = await gatewayFor(this.#env);
    const rows = await this.#turns(due, "verify", tally);
    await Promise.all(
      rows.map(async (order) => {
        const ref = chargeRef({
          orderId: order.id,
          amount: order.total,
          token: order.paymentToken,
          intentId: order.intentId,
        });
        // Withdrawn first where it could still be confirmed, then answered as it is.
        const found = await gateway.abandon(ref).catch(() => null);
        this.#apply(
          order.id,
          "verify",
          () => {
            if (!found) return "retry";
            if ("chargeId" in found) {
              const intent = found.intentId ? { intentId: found.intentId } : {};
              return {
                chargeInDoubt: false,
                paymentStatus: found.status,
                chargeId: found.chargeId,
                ...intent,
              };
            }
            return found.status === "none" ? { chargeInDoubt: false } : "retry";
          },
          tally,
        );
      }),
    );
  }

  /** Gives back the holds of checkout attempts that stopped (or were taken over) before recording. */
  async #releaseAbandoned(now: number, tally: Tally): Promise<number> {
    if (isDue(this.#store.keys.nextClaimLockEnd(), now)) {
      this.#atomically(() => {
        for (const claim of this.#store.keys.abandonedClaims(now, 100)) {
          this.#store.scheduleRelease(claim.orderId, claim.lines, now);
          this.#store.keys.drop(claim.keyHash);
        }
      });
    }
    if (!isDue(this.#store.nextRelease(), now)) return 0;
    let released = 0;
    for (const { orderId, lines, dueAttempts } of this.#store.dueReleases(now, 100)) {
      const done = await releaseBuckets(
        this.#env,
        orderId,
        lines.map((line) => ({ sku: line.sku, buckets: everyBucket(line.buckets) })),
      );
      if (done) {
        this.#store.releaseDone(orderId);
        released++;
      } else {
        tally.failed++;
        this.#store.releaseFailed(orderId, Date.now() + backoffMs(dueAttempts));
      }
    }
    return released;
  }

  /** Writes the orders that changed to D1, at most once a `PROJECT_EVERY_MS`, backing off while it fails. */
  async #project(now: number): Promise<number> {
    if (now < this.#projectAt) return 0;
    const rows = this.#store.unprojected(PROJECT_BATCH);
    if (rows.length === 0) return 0;
    try {
      await projectOrders(this.#env.DB, rows);
    } catch (error) {
      this.#projectFailures++;
      this.#projectAt = Date.now() + backoffMs(this.#projectFailures, 1000, 30_000);
      logEvent("warn", "order projection to D1 failed; will retry", {
        orders: rows.length,
        error: String(error),
      });
      return 0;
    }
    this.#atomically(() => this.#store.markProjected(rows.map(({ id, version }) => ({ id, version }))));
    this.#projectFailures = 0;
    this.#projectAt = rows.length === PROJECT_BATCH ? 0 : Date.now() + PROJECT_EVERY_MS;
    return rows.length;
  }
}
