import type { SkuHold } from "../../inventory/inventory.holds";
import type { GatewayEvent } from "../../payments/gateway";
import type { Money } from "../../shared/money";
import type {
  AfterSaleRefusal,
  Fulfillment,
  FulfillmentRequest,
  Refund,
  RefundRequest,
} from "../lifecycle/after-sale";
import { announcements } from "../lifecycle/announcements";
import { decide, type LifecycleEvent } from "../lifecycle/decide";
import { checkOrder, drawnChargeViolations, InvariantViolation } from "../lifecycle/invariants";
import {
  type AcceptedOrder,
  acceptedLifecycle,
  type Lifecycle,
  lifecycleOf,
  type OrderRow,
  unchanged,
  visibleChange,
} from "../lifecycle/order";
import { owedWork, type Work } from "../lifecycle/states";
import type { DecideContext } from "../lifecycle/timing";
import type { PaymentReport, PaymentTask } from "../protocol";
import type { LoopPorts } from "./ports";
import {
  commitStep,
  lateStep,
  payBackStep,
  pinStep,
  refundStep,
  releaseStep,
  restockStep,
  returnUsesStep,
  type StepResult,
  verifyStep,
} from "./steps";

export type Tally = { settled: number; failed: number; resent: number };

/** What a refund or fulfilment came to: made (or found made before), refused, or no such order. */
export type AfterSaleAnswer<T> =
  | { made: T; replayed: boolean; order: OrderRow }
  | { refused: AfterSaleRefusal }
  | null;

/** At most this many orders are worked through per run; the rest come next time (they stay due). */
const DUE_BATCH = 200;

/**
 * The order loop inside one order shard: every decision about its orders goes through `decide` and is
 * written with its invariants checked and its announcements, in the transaction that read the order.
 * The steps between decisions (stock, the gateway, the queue) go through ports, so the same code runs
 * in the Durable Object and in the model test.
 *
 * Multi-object sequences, and what is left if the worker dies (or a call throws) between two awaits:
 * - settling a report: the decision is taken, its stock step runs, the decision and the step's result
 *   are written together. Dying before the write loses nothing: the attempt's lease runs out, the next
 *   attempt asks the gateway, and the same answer comes again (the stock steps repeat harmlessly). While
 *   the step runs nothing else decides these orders (`settling`), but the gateway's events are heard.
 * - owed work (commit, release, refund, verify, late holds, restock, a code's use back, hand-on): each
 *   step re-reads the order after its I/O and applies its result only if the order still owes that
 *   step, so a step done twice (inline and by the alarm) changes nothing the second time; a failed
 *   step backs off on that order alone.
 */
export class OrderLoop {
  readonly #ports: LoopPorts;
  /**
   * Orders whose payment report is being applied right now (its stock step is under way): nothing else
   * decides them meanwhile, so the report's decision and its stock step land in one write.
   */
  readonly settling = new Set<string>();

  constructor(ports: LoopPorts) {
    this.#ports = ports;
  }

  #context(now: number): DecideContext {
    return { now, random: this.#ports.clock.random, settings: this.#ports.settings };
  }

  /** Writes `next` over `before` (already read in this transaction), checking every invariant first. */
  #write(before: OrderRow, next: Lifecycle, now: number): OrderRow {
    if (unchanged(before, next)) return before;
    const visible = visibleChange(before, next);
    const after: OrderRow = {
      ...before,
      ...next,
      ...(visible ? { version: before.version + 1, updatedAt: new Date(now).toISOString() } : {}),
    };
    checkOrder(before, after, now);
    this.#ports.store.write(before, after, announcements(before, after), now);
    if (after.dueAt !== null) this.#ports.wake(after.dueAt);
    return after;
  }

  /**
   * Decides one order in a transaction of its own: the order is read, decided and written, or, if the
   * decision would break an invariant, nothing is written and the violation is logged at error level.
   * `when` picks the orders this applies to as they are inside the transaction.
   */
  #apply(id: string, event: LifecycleEvent, when: (order: OrderRow) => boolean = () => true) {
    const now = this.#ports.clock.now();
    try {
      return this.#ports.store.transaction(() => {
        const before = this.#ports.store.order(id);
        if (!before || !when(before)) return null;
        const decision = decide(before, event, this.#context(now));
        return { before, after: this.#write(before, decision.next, now), decision };
      });
    } catch (error) {
      if (!(error instanceof InvariantViolation)) throw error;
      this.#ports.log("error", "an order decision was refused: it would break the order's invariants", {
        orderId: error.orderId,
        event: event.type,
        violations: error.violations,
      });
      return null;
    }
  }

  /** Records an order checkout accepted (due to be handed on at `dueAt`), in the caller's transaction. */
  accept(order: AcceptedOrder, dueAt: number, orderToken?: string): void {
    const row: OrderRow = {
      ...order,
      ...acceptedLifecycle(order, dueAt),
      updatedAt: order.createdAt,
      version: 1,
      projected: 0,
    };
    checkOrder(null, row, this.#ports.clock.now());
    this.#ports.store.insert(row, orderToken);
  }

  /**
   * Records an order a draw won: its unit held (pinned) under the order's id since the draw's setup,
   * its charge made (the winner's authorization captured). It owes its commit at once, as any charged
   * order does, and is paid once its unit is sold. A repeat changes nothing (false).
   */
  acceptDrawn(
    order: AcceptedOrder,
    charge: { chargeId: string; captured: Money; intentId: string | null },
    orderToken: string,
  ) {
    const now = this.#ports.clock.now();
    // A charge that is not the order's total is a breach: nothing is recorded, and the draw's walk,
    // whose step fails, comes back to it.
    const wrong = drawnChargeViolations(order, charge.captured);
    if (wrong.length > 0) {
      this.#ports.log("error", "a drawn order was refused: its charge is not its total", {
        orderId: order.id,
        violations: wrong,
      });
      throw new InvariantViolation(order.id, wrong);
    }
    return this.#ports.store.transaction(() => {
      if (this.#ports.store.order(order.id)) return false;
      const row: OrderRow = {
        ...order,
        ...acceptedLifecycle(order, now),
        paymentStatus: "succeeded",
        stock: "pinned",
        attempts: 1,
        chargeId: charge.chargeId,
        intentId: charge.intentId,
        updatedAt: order.createdAt,
        version: 1,
        projected: 0,
      };
      checkOrder(null, row, now);
      this.#ports.store.insert(row, orderToken);
      this.#ports.wake(now);
      return true;
    });
  }

  order(id: string): OrderRow | null {
    return this.#ports.store.order(id);
  }

  /** Hands out the next payment attempt of each order that is due one. */
  beginPayments(ids: string[]): PaymentTask[] {
    const tasks: PaymentTask[] = [];
    this.#ports.store.transaction(() => {
      for (const id of ids) {
        const applied = this.#apply(id, { type: "begin" }, () => !this.settling.has(id));
        if (applied?.decision.task) tasks.push(applied.decision.task);
      }
    });
    return tasks;
  }

  /**
   * Takes the consumer's reports and decides each order; a decision that pays or closes an order
   * settles its stock first (commit for a charge, release for a failure, pins for holds it added), and
   * the decision is written together with what that step came to, so a buyer sees `paid` once the
   * stock is sold. A report that adds holds (the paying card's allowance) is written at once, before
   * anything pins them: a hold is pinned only once its order records it, so none can be left pinned
   * and unrecorded by a worker that stops between the two.
   */
  async settlePayments(reports: PaymentReport[]): Promise<void> {
    const now = this.#ports.clock.now();
    const taken: Taken[] = [];
    for (const report of reports) {
      if (this.settling.has(report.orderId)) continue;
      const before = this.#ports.store.order(report.orderId);
      if (!before) continue;
      const { next, pin = [] } = decide(before, { type: "report", report }, this.#context(now));
      const decided: OrderRow = { ...before, ...next };
      const adds =
        decided.holds.length + decided.lateHolds.length > before.holds.length + before.lateHolds.length;
      if (adds) {
        const applied = this.#apply(report.orderId, { type: "report", report });
        if (!applied) continue;
        taken.push({ before: applied.after, report, decided: applied.after, pin, recorded: true });
      } else taken.push({ before, report, decided, pin, recorded: false });
      this.settling.add(before.id);
    }
    try {
      const owing = (work: Work) => taken.filter(({ decided }) => owedWork(decided, now) === work);
      // Holds a report added to an order that stays unpaid are pinned now (a commit pins them itself).
      const added = taken.flatMap(({ decided, pin }) => {
        const work = owedWork(decided, now);
        return pin.length > 0 && work !== "commit" && work !== "release"
          ? [{ orderId: decided.id, holds: pin }]
          : [];
      });
      const [commits, releases, pins] = await Promise.all([
        commitStep(
          this.#ports,
          owing("commit").map(({ decided }) => decided),
        ),
        releaseStep(
          this.#ports,
          owing("release").map(({ decided }) => decided),
        ),
        pinStep(this.#ports, added),
      ]);
      this.#ports.store.transaction(() => {
        for (const taken_ of taken) {
          const id = taken_.before.id;
          this.#settle(taken_, commits.get(id) ?? releases.get(id) ?? pins.get(id) ?? null);
        }
      });
    } finally {
      for (const { before } of taken) this.settling.delete(before.id);
    }
  }

  /**
   * Writes a report's decision (unless it was written already) with its stock step's result, deciding
   * again on the order as it is now (the gateway may have spoken meanwhile). A step that could not be
   * made backs off; the order still owes it and the shard's alarm comes back for it.
   */
  #settle({ before, report, decided, recorded }: Taken, step: StepResult | null) {
    const now = this.#ports.clock.now();
    const ctx = this.#context(now);
    const then = (order: OrderRow, event: LifecycleEvent): OrderRow => ({
      ...order,
      ...decide(order, event, ctx).next,
    });
    try {
      this.#ports.store.transaction(() => {
        const current = this.#ports.store.order(before.id);
        if (!current) return;
        let order = recorded ? current : then(current, { type: "report", report });
        // The step was made for the decision taken before it; it is this order's only if deciding
        // again, on the order as it is now, still owes the same (otherwise the alarm makes the step).
        if (step !== null && owedWork(order, now) === owedWork(decided, now)) {
          order = then(order, step === "retry" ? { type: "step_failed" } : asEvent(step));
        }
        // The gateway spoke while the step ran: a close without a charge looks for one once more.
        if (current.eventAt !== before.eventAt) order = then(order, { type: "news_while_settling" });
        this.#write(current, lifecycleOf(order), now);
      });
    } catch (error) {
      if (!(error instanceof InvariantViolation)) throw error;
      this.#ports.log("error", "a payment report was refused: it would break the order's invariants", {
        orderId: error.orderId,
        violations: error.violations,
      });
    }
  }

  /**
   * Cancels an order not yet paid, as a decision like any other: its holds go back at once; a charge
   * that may exist is looked for and withdrawn or refunded.
   */
  async cancel(id: string): Promise<{ ok: true; order: OrderRow } | { ok: false; status: string } | null> {
    const before = this.#ports.store.order(id);
    if (!before) return null;
    if (this.settling.has(id) && before.status === "pending_payment")
      return { ok: false, status: "being paid" };
    const applied = this.#apply(id, { type: "cancel" }, () => !this.settling.has(id));
    const refusal = applied?.decision.refusal ?? null;
    if (refusal) return { ok: false, status: refusal };
    if (applied && applied.after !== applied.before) await this.run([id]);
    const after = this.#ports.store.order(id);
    return after ? { ok: true, order: after } : null;
  }

  /**
   * A gateway's word that an order's payment changed, taken once by its event id. It never decides the
   * payment itself (see decide.ts): the order is looked at again, and what the event adds is kept.
   */
  gatewayEvent(event: GatewayEvent): { known: boolean; duplicate: boolean } {
    const now = this.#ports.clock.now();
    const { store } = this.#ports;
    if (!store.order(event.orderId)) return { known: false, duplicate: false };
    if (store.hasGatewayEvent(event.eventId)) return { known: true, duplicate: true };
    store.transaction(() => {
      store.recordGatewayEvent(event.eventId, event.orderId, event.type, now);
      this.#apply(event.orderId, {
        type: "gateway_event",
        kind: event.type,
        ...(event.detail ? { detail: event.detail } : {}),
      });
    });
    return { known: true, duplicate: false };
  }

  /**
   * The shop refunds (part of) a paid order, or cancels it: the refund is recorded first (a decision
   * like any other, so two refunds that together exceed the charge cannot both stand), then made at
   * the gateway now, and by the alarm until the gateway answers. Answers the refund as it stands.
   */
  async refund(id: string, request: RefundRequest): Promise<AfterSaleAnswer<Refund>> {
    if (!this.#ports.store.order(id)) return null;
    const applied = this.#apply(id, { type: "refund", request });
    const made = applied?.decision.made;
    if (!made || "refused" in made) return made ? { refused: made.refused } : null;
    if (!("refund" in made)) return null;
    await this.run([id]);
    const after = this.#ports.store.order(id);
    const refund = after?.refunds.find((candidate) => candidate.id === made.refund.id) ?? made.refund;
    return { made: refund, replayed: applied.after === applied.before, order: after ?? applied.after };
  }

  /** The shop ships lines of a paid order (a fulfilment with the same carrier and tracking is the same). */
  fulfil(id: string, request: FulfillmentRequest): AfterSaleAnswer<Fulfillment> {
    const applied = this.#apply(id, { type: "fulfil", request });
    const made = applied?.decision.made;
    if (!made) return null;
    if ("refused" in made) return { refused: made.refused };
    if (!("fulfillment" in made)) return null;
    return { made: made.fulfillment, replayed: made.replayed, order: applied.after };
  }

  /**
   * Fulfilments of many orders (a CSV's rows), taken in order: each row is judged on the order as the
   * rows before it leave it. With `apply` false nothing is written (the check before any write); with it,
   * all rows are written in one transaction, each as its own decision.
   */
  fulfilMany(
    rows: (FulfillmentRequest & { orderId: string; row: number })[],
    apply: boolean,
  ): {
    row: number;
    orderId: string;
    outcome: "made" | "replayed" | "refused" | "not_found" | "rolled_back";
    detail?: string;
    fulfillment?: Fulfillment;
  }[] {
    const now = this.#ports.clock.now();
    const ctx = this.#context(now);
    const orders = new Map<string, OrderRow | null>();
    const current = (id: string) => {
      if (!orders.has(id)) orders.set(id, this.#ports.store.order(id));
      return orders.get(id) ?? null;
    };
    const judge = () =>
      rows.map(({ orderId, row, ...request }) => {
        const order = current(orderId);
        if (!order) return { row, orderId, outcome: "not_found" as const, detail: `No order ${orderId}` };
        if (apply) {
          const applied = this.#apply(orderId, { type: "fulfil", request });
          const made = applied?.decision.made;
          if (!made || "refused" in made || !("fulfillment" in made)) {
            const detail = made && "refused" in made ? made.refused.detail : "The order could not be read";
            return { row, orderId, outcome: "refused" as const, detail };
          }
          return {
            row,
            orderId,
            outcome: made.replayed ? ("replayed" as const) : ("made" as const),
            fulfillment: made.fulfillment,
          };
        }
        const decision = decide(order, { type: "fulfil", request }, ctx);
        const made = decision.made;
        if (!made || "refused" in made || !("fulfillment" in made)) {
          const detail = made && "refused" in made ? made.refused.detail : "The order could not be read";
          return { row, orderId, outcome: "refused" as const, detail };
        }
        orders.set(orderId, { ...order, ...decision.next });
        return {
          row,
          orderId,
          outcome: made.replayed ? ("replayed" as const) : ("made" as const),
          fulfillment: made.fulfillment,
        };
      });
    if (!apply) return judge();
    // Written all or nothing: a row refused now (the order changed since the check) undoes the others.
    let reports: ReturnType<typeof judge> = [];
    try {
      this.#ports.store.transaction(() => {
        reports = judge();
        if (reports.some((report) => report.outcome === "refused" || report.outcome === "not_found"))
          throw new RolledBack();
      });
    } catch (error) {
      if (!(error instanceof RolledBack)) throw error;
      return reports.map((report) =>
        report.outcome === "made" || report.outcome === "replayed"
          ? { row: report.row, orderId: report.orderId, outcome: "rolled_back" as const }
          : report,
      );
    }
    return reports;
  }

  /** The buyer finished what the payment asked of them: an open payment is looked at again now. */
  recheck(id: string): OrderRow | null {
    this.#apply(id, { type: "recheck" });
    return this.#ports.store.order(id);
  }

  /** Works through the orders whose due time has come. */
  runDue(now: number, tally?: Tally): Promise<Tally> {
    const due = this.#ports.store.dueOrders(now, DUE_BATCH).map((row) => row.id);
    return this.run(due, tally);
  }

  /** Does what each of these orders owes now, as far as it can. */
  async run(ids: string[], tally: Tally = { settled: 0, failed: 0, resent: 0 }): Promise<Tally> {
    const now = this.#ports.clock.now();
    const owed = new Map<Work, OrderRow[]>();
    const resend: string[] = [];
    this.#ports.store.transaction(() => {
      for (const id of ids) {
        // Work not due yet (a retry backing off) waits for its time.
        const due = (order: OrderRow) =>
          !this.settling.has(id) && (order.dueAt === null || order.dueAt <= now);
        const ticked = this.#apply(id, { type: "tick" }, due);
        if (!ticked) continue;
        const order = ticked.after;
        if (order.status !== ticked.before.status) tally.settled++;
        const work = owedWork(order, now);
        if (work === "pay" || work === "lapse") {
          if (this.#apply(id, { type: "handed_on" })) resend.push(id);
        } else if (work !== null && work !== "await" && work !== "expire") {
          owed.set(work, [...(owed.get(work) ?? []), order]);
        }
      }
    });
    tally.resent += resend.length;
    const steps = async (work: Work, run: (orders: OrderRow[]) => Promise<Map<string, StepResult>>) => {
      const orders = owed.get(work) ?? [];
      if (orders.length === 0) return;
      const results = await run(orders);
      for (const order of orders) {
        const result = results.get(order.id);
        if (result) this.#applyStep(order, work, result, tally);
      }
    };
    await Promise.all([
      resend.length > 0 ? this.#ports.handOn(resend) : undefined,
      steps("commit", (orders) => commitStep(this.#ports, orders)),
      steps("release", (orders) => releaseStep(this.#ports, orders)),
      steps("settle_late", (orders) => lateStep(this.#ports, orders)),
      steps("refund", (orders) => refundStep(this.#ports, orders)),
      steps("verify", (orders) => verifyStep(this.#ports, orders)),
      steps("pay_back", (orders) => payBackStep(this.#ports, orders)),
      steps("restock", (orders) => restockStep(this.#ports, orders)),
      steps("return_uses", (orders) => returnUsesStep(this.#ports, orders)),
    ]);
    return tally;
  }

  /** Applies a step's result to an order that still owes that step. */
  /**
   * Applies a step's result to an order that still owes that step, for the holds the step was made
   * for: should a report have added a hold meanwhile, the step is made again, for them all.
   */
  #applyStep(made: OrderRow, work: Work, result: StepResult, tally: Tally) {
    const event: LifecycleEvent = result === "retry" ? { type: "step_failed" } : asEvent(result);
    const holds = (order: OrderRow) => order.holds.length + order.lateHolds.length;
    const owes = (order: OrderRow) =>
      !this.settling.has(order.id) &&
      owedWork(order, this.#ports.clock.now()) === work &&
      holds(order) === holds(made);
    if (this.#apply(made.id, event, owes)) {
      if (result === "retry") tally.failed++;
      else tally.settled++;
    }
  }
}

/** A report being settled: the order before it, its decision, and whether that is written already. */
type Taken = {
  before: OrderRow;
  report: PaymentReport;
  decided: OrderRow;
  pin: SkuHold[];
  recorded: boolean;
};

const asEvent = (result: Exclude<StepResult, "retry">): LifecycleEvent =>
  "kind" in result ? { type: "stock", step: result } : result;

/** A batch of fulfilments undone whole because one of its rows was refused. */
class RolledBack extends Error {}
