import { flushSaleCounters } from "../../metrics/sale-metrics";
import { logEvent } from "../../shared/log";
import { backoffMs } from "../lifecycle/timing";
import type { HealReport } from "../protocol";
import type { Claims } from "./claims";
import type { OrderLoop, Tally } from "./loop";
import type { ShardStore } from "./orders.store";
import { OutboxFlush, toMailer, toWebhooksQueue } from "./outbox.flush";
import { projectOrders } from "./projection";

/** Stripe retries an event for up to 3 days; an id is remembered a week, then forgotten. */
const GATEWAY_EVENT_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** How often a shard writes the orders that changed to D1, in one batch. */
const PROJECT_EVERY_MS = 1000;
const PROJECT_BATCH = 500;

/**
 * What an order shard's alarm works through: the orders whose due time came (the order loop), the
 * holds of abandoned checkout attempts, keys past their retention, the D1 projection of the orders
 * that changed, and the outboxes (webhook events to their queue, buyers' emails to their mailer). Each part backs off on its own when what it calls fails.
 */
export class Upkeep {
  readonly #store: ShardStore;
  readonly #env: Env;
  readonly #loop: OrderLoop;
  readonly #claims: Claims;
  readonly #webhooks: OutboxFlush;
  readonly #emails: OutboxFlush;
  #projectAt = 0;
  #projectFailures = 0;

  constructor(store: ShardStore, env: Env, loop: OrderLoop, claims: Claims) {
    this.#store = store;
    this.#env = env;
    this.#loop = loop;
    this.#claims = claims;
    this.#webhooks = new OutboxFlush(store.outbox, "webhook_outbox", toWebhooksQueue(env.WEBHOOKS));
    this.#emails = new OutboxFlush(store.outbox, "mail_outbox", toMailer(env));
  }

  /** When the alarm should next come: the earliest thing anything here owes. */
  nextWorkAt(now: number): number | null {
    const times = [
      this.#store.nextDue(),
      this.#store.nextRelease(),
      this.#store.keys.nextClaimLockEnd(),
      this.#store.keys.nextExpiry(),
      this.#store.hasUnprojected() ? Math.max(now, this.#projectAt) : null,
      this.#webhooks.nextAt(now),
      this.#emails.nextAt(now),
    ].filter((time): time is number => time !== null);
    return times.length > 0 ? Math.min(...times) : null;
  }

  /** `project`: write the projection now rather than at its next turn (the reconciler asks so). */
  async heal(now: number, project = false): Promise<HealReport> {
    const tally: Tally = { settled: 0, failed: 0, resent: 0 };
    const [, released] = await Promise.all([
      this.#loop.runDue(now, tally),
      this.#claims.releaseAbandoned(now, () => tally.failed++),
    ]);
    const expiry = this.#store.keys.nextExpiry();
    const expiredKeys = expiry !== null && expiry <= now ? this.#store.keys.dropExpired(now, 1000) : 0;
    this.#store.pruneGatewayEvents(now - GATEWAY_EVENT_RETENTION_MS, 1000);
    if (project) this.#projectAt = 0;
    const [projected] = await Promise.all([
      this.#project(Date.now()),
      // Units this shard's orders sold, for the ops page (this isolate's counts, when due).
      flushSaleCounters(this.#env),
      this.#webhooks.flush(Date.now(), project),
      this.#emails.flush(Date.now(), project),
    ]);
    return { ...tally, released, expiredKeys, projected, stillOwed: this.#store.owedCount() };
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
      this.#projectAt = Date.now() + backoffMs(this.#projectFailures, Math.random, 1000, 30_000);
      logEvent("warn", "order projection to D1 failed; will retry", {
        orders: rows.length,
        error: String(error),
      });
      return 0;
    }
    this.#store.transaction(() =>
      this.#store.markProjected(rows.map(({ id, version }) => ({ id, version }))),
    );
    this.#projectFailures = 0;
    this.#projectAt = rows.length === PROJECT_BATCH ? 0 : Date.now() + PROJECT_EVERY_MS;
    return rows.length;
  }
}
