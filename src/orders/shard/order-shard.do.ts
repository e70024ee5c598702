import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import type { GatewayEvent } from "../../payments/gateway";
import { ulid } from "../../shared/ids";
import { DrawnOrder } from "../draw/drawn-order";
import { cancelRequest, type Refund } from "../lifecycle/after-sale";
import type { OrderRow } from "../lifecycle/order";
import { type OrderView, toOrderView } from "../orders.view";
import {
  type AfterSaleResult,
  FulfillArgs,
  type FulfillRow,
  FulfillRows,
  GatewayEventArgs,
  type HealReport,
  type IntakeAnswer,
  IntakeInput,
  type KeyAnswer,
  OrderIds,
  type PaymentReport,
  PaymentReports,
  type PaymentTask,
  RefundArgs,
  type StandingAsk,
  StandingAsks,
} from "../protocol";
import { shardPorts } from "./adapters";
import { Claims } from "./claims";
import { HandOn } from "./hand-on";
import { type AfterSaleAnswer, OrderLoop } from "./loop";
import { ShardStore } from "./orders.store";
import { Upkeep } from "./upkeep";

/**
 * One shard of the order intake: the system of record for the Idempotency-Keys that hash to it and
 * for every order it accepted, from the 202 to the end of its lifecycle. A thin RPC shell: arguments
 * are checked here (the shard trusts no caller), then checkout goes to its claims (claims.ts), every
 * decision about an order to the order loop (loop.ts, over the lifecycle machine), and the alarm to
 * its upkeep (upkeep.ts). D1 receives a projection of the orders, in batches, for listing.
 */
export class OrderShard extends DurableObject<Env> {
  readonly #store: ShardStore;
  readonly #loop: OrderLoop;
  readonly #claims: Claims;
  readonly #upkeep: Upkeep;
  /** The alarm time last asked for, so work that comes due later does not re-arm it. */
  #alarmAt: number | null = null;
  #healing: Promise<HealReport> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new ShardStore(ctx.storage);
    const handOn = new HandOn(env.PAYMENTS);
    const wake = (at: number) => this.#armFor(at);
    this.#loop = new OrderLoop(shardPorts(env, this.#store, { handOn: (ids) => handOn.send(ids), wake }));
    this.#claims = new Claims(this.#store, this.#loop, env, {
      handOn: (id, now) => handOn.soon(id, now),
      wake,
    });
    this.#upkeep = new Upkeep(this.#store, env, this.#loop, this.#claims);
    ctx.blockConcurrencyWhile(async () => {
      this.#store.migrate();
      this.#alarmAt = await ctx.storage.getAlarm();
      // After a restart the alarm may be gone while work is owed (a local runtime that was killed).
      if (this.#alarmAt === null) this.#arm(Date.now());
    });
  }

  /** Asks for the alarm at `at` unless one is already due sooner. Synchronous, so it joins the write. */
  #armFor(at: number) {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  /** Sets the alarm for the earliest thing anything here owes (after work, which may have moved it). */
  #arm(now: number) {
    const next = this.#upkeep.nextWorkAt(now);
    const at = next === null ? null : Math.max(next, now);
    if (at === null || at === this.#alarmAt) return;
    this.#alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  /** Checkout's intake: claim the key, hold the cart, record the order and its stored answer. */
  checkout(input: IntakeInput): Promise<IntakeAnswer> {
    return this.#claims.checkout(IntakeInput.parse(input));
  }

  /** Records an order a draw won and charged (see OrderLoop.acceptDrawn); false if it was recorded before. */
  recordDrawn(input: DrawnOrder): boolean {
    const { order, chargeId, captured, intentId, orderToken } = DrawnOrder.parse(input);
    const recorded = this.#loop.acceptDrawn(order, { chargeId, captured, intentId }, orderToken);
    this.#arm(Date.now());
    return recorded;
  }

  /**
   * The key's standing for a refusal that changes nothing (sold out, rate limited, an unknown SKU, a
   * drop's rules): a key that holds a stored answer gets that answer instead, and a lapsed claim is
   * given up first, so no request still in flight can place an order the refusal contradicts.
   */
  refusalStanding(key: string, keyHash: string, fingerprint: string): Promise<KeyAnswer> {
    return this.#claims.refusalStanding(key, keyHash, fingerprint);
  }

  /**
   * The standing of many keys at once, answered per key in their order: the refusals of sold-out carts
   * an edge isolate gathered while its previous call to this shard was under way (see standings.ts).
   */
  refusalStandings(asks: StandingAsk[]): Promise<KeyAnswer[]> {
    return Promise.all(
      StandingAsks.parse(asks).map((ask) =>
        this.#claims.refusalStanding(ask.key, ask.keyHash, ask.fingerprint),
      ),
    );
  }

  /**
   * An order as its buyer sees it (with what an open payment asks of them), with its token's hash for
   * the caller to check the buyer's token against.
   */
  order(id: string): (OrderView & { tokenHash: string }) | null {
    const row = this.#loop.order(id);
    return row ? buyerView(row) : null;
  }

  /** Cancels an order not yet paid (see OrderLoop.cancel). */
  async cancel(id: string): Promise<{ ok: true; order: OrderView } | { ok: false; status: string } | null> {
    OrderIds.parse([id]);
    const result = await this.#loop.cancel(id);
    this.#arm(Date.now());
    return result?.ok ? { ok: true, order: toOrderView(result.order) } : result;
  }

  /** An order as the shop sees it, with its timeline (the admin's order detail). */
  adminOrder(id: string): OrderView | null {
    OrderIds.parse([id]);
    const row = this.#loop.order(id);
    return row ? { ...toOrderView(row), timeline: this.#store.timeline(row) } : null;
  }

  /** The shop refunds (part of) a paid order (see OrderLoop.refund). */
  async refund(id: string, input: RefundArgs): Promise<AfterSaleResult<OrderView["refunds"][number]>> {
    OrderIds.parse([id]);
    const args = RefundArgs.parse(input);
    const answer = await this.#loop.refund(id, {
      id: `re_${ulid()}`,
      keyHash: args.keyHash,
      fingerprint: args.fingerprint,
      ...(args.amount !== undefined ? { amount: args.amount } : {}),
      ...(args.currency !== undefined ? { currency: args.currency } : {}),
      ...(args.lines ? { lines: args.lines } : {}),
      restock: args.restock,
      ...(args.reason ? { reason: args.reason } : {}),
    });
    this.#arm(Date.now());
    return this.#refundResult(answer);
  }

  /**
   * The shop cancels an order: one not paid yet as the buyer would (holds back, any charge withdrawn or
   * refunded); a paid one that has not shipped by refunding all that is left and putting every unit back.
   */
  async cancelByShop(id: string): Promise<AfterSaleResult<OrderView["refunds"][number] | null>> {
    OrderIds.parse([id]);
    const row = this.#loop.order(id);
    if (!row) return null;
    if (row.status !== "paid") {
      const result = await this.#loop.cancel(id);
      this.#arm(Date.now());
      if (!result) return null;
      if (!result.ok)
        return { ok: false, code: "order_not_cancellable", detail: `The order is already ${result.status}` };
      return { ok: true, made: null, replayed: false, order: toOrderView(result.order) };
    }
    // One cancel under way at a time; one the gateway refused leaves room for the next.
    const tries = row.refunds.filter((refund) => refund.cancel).length;
    const made = cancelRequest(row, {
      id: `re_${ulid()}`,
      keyHash: `cancel-${id}-${tries}`,
      fingerprint: "cancel",
    });
    if ("refusal" in made) return { ok: false, code: made.refusal.code, detail: made.refusal.detail };
    const answer = await this.#loop.refund(id, made.request);
    this.#arm(Date.now());
    return this.#refundResult(answer);
  }

  #refundResult(answer: AfterSaleAnswer<Refund>): AfterSaleResult<OrderView["refunds"][number]> {
    if (!answer) return null;
    if ("refused" in answer) return { ok: false, code: answer.refused.code, detail: answer.refused.detail };
    const order = toOrderView(answer.order);
    const refund = order.refunds.find((candidate) => candidate.id === answer.made.id);
    if (!refund) return null;
    return { ok: true, made: refund, replayed: answer.replayed, order };
  }

  /** The shop ships lines of a paid order (see OrderLoop.fulfil). */
  fulfil(id: string, input: FulfillArgs): AfterSaleResult<OrderView["fulfillments"][number]> {
    OrderIds.parse([id]);
    const args = FulfillArgs.parse(input);
    const answer = this.#loop.fulfil(id, { id: `ful_${ulid()}`, ...args });
    this.#arm(Date.now());
    if (!answer) return null;
    if ("refused" in answer) return { ok: false, code: answer.refused.code, detail: answer.refused.detail };
    const order = toOrderView(answer.order);
    const fulfillment = order.fulfillments.find((candidate) => candidate.id === answer.made.id);
    return fulfillment ? { ok: true, made: fulfillment, replayed: answer.replayed, order } : null;
  }

  /** A CSV's fulfilments of this shard's orders: checked (`apply` false) or written (see OrderLoop). */
  fulfilMany(input: FulfillRow[], apply: boolean) {
    const rows = FulfillRows.parse(input);
    const results = this.#loop.fulfilMany(
      rows.map((row, index) => ({ ...row, id: `ful_${ulid()}${index.toString(36)}` })),
      z.boolean().parse(apply),
    );
    if (apply) this.#arm(Date.now());
    return results.map(({ fulfillment, ...rest }) => ({
      ...rest,
      ...(fulfillment ? { fulfillmentId: fulfillment.id } : {}),
    }));
  }

  /**
   * A payment gateway's event about one of this shard's orders, taken once by its id. What it changed
   * is announced (a refund made in the gateway's dashboard emails the buyer) at the alarm armed here,
   * and changes in the projection, as after any other change.
   */
  gatewayEvent(args: GatewayEvent): { known: boolean; duplicate: boolean } {
    const taken = this.#loop.gatewayEvent(GatewayEventArgs.parse(args));
    if (taken.known && !taken.duplicate) this.#arm(Date.now());
    return taken;
  }

  /** The buyer says they finished what the payment asked of them (3-D Secure): look again now. */
  recheck(id: string): (OrderView & { tokenHash: string }) | null {
    OrderIds.parse([id]);
    const row = this.#loop.recheck(id);
    return row ? buyerView(row) : null;
  }

  /** Hands out the next payment attempt of each order that is due one. */
  beginPayments(orderIds: string[]): PaymentTask[] {
    return this.#loop.beginPayments(OrderIds.parse(orderIds));
  }

  /** Takes the payment consumer's reports and decides each order (see OrderLoop.settlePayments). */
  async settlePayments(reports: PaymentReport[]): Promise<void> {
    await this.#loop.settlePayments(PaymentReports.parse(reports));
    this.#arm(Date.now());
  }

  /**
   * Works through everything due now; the alarm and the reconciler both come here. The reconciler
   * also has the projection written at once, so D1 is complete when it answers.
   */
  heal(project = false): Promise<HealReport> {
    const previous = this.#healing;
    // A run already under way covers the alarm; the reconciler waits for it and runs again.
    if (previous && !project) return previous;
    const run = async () => {
      if (previous) await previous.catch(() => undefined);
      try {
        return await this.#upkeep.heal(Date.now(), project);
      } finally {
        if (this.#healing === next) this.#healing = null;
        this.#arm(Date.now());
      }
    };
    const next = run();
    this.#healing = next;
    return next;
  }

  override async alarm() {
    this.#alarmAt = null;
    await this.heal();
  }

  stats() {
    return this.#store.counts(Date.now());
  }

  /** Whether the shard answers at all (for /health); touches no storage. */
  ping(): true {
    return true;
  }
}

function buyerView(row: OrderRow): OrderView & { tokenHash: string } {
  return { ...toOrderView(row, "buyer"), tokenHash: row.tokenHash };
}
