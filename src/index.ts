import { app } from "./app";
import { republishRecentProducts } from "./catalog/catalog.service";
import { tellRoomsOfChangedDrops } from "./drops/waiting-room";
import { answerEarly, pathOf } from "./early-answers";
import { countCheckout, handOn } from "./metrics/sale-metrics";
import { faultInjectionOn, injectQueueFault } from "./ops/faults";
import { announceGatewayEvent } from "./orders/payment/gateway-events";
import {
  consumeDeadPayments,
  consumePayments,
  PAYMENTS_DLQ,
  PAYMENTS_QUEUE,
} from "./orders/payment/payments.consumer";
import { reconcile } from "./orders/reconcile";
import { sendSimulatorEventsTo } from "./payments/simulator.do";
import { completeCapChanges, republishDiscounts } from "./pricing/discounts.storage";
import { republishSettings } from "./pricing/pricing.storage";
import { paymentMode } from "./shared/config";
import { logEvent } from "./shared/log";
import {
  consumeDeadWebhooks,
  consumeWebhooks,
  WEBHOOKS_DLQ,
  WEBHOOKS_QUEUE,
} from "./webhooks/webhooks.consumer";

export { DrawBook } from "./draws/draw-book.do";
export { WaitingRoom } from "./drops/waiting-room.do";
export { Mailer } from "./email/mailer.do";
export { SkuInventory } from "./inventory/inventory.do";
export { SaleMetrics } from "./metrics/sale-metrics.do";
export { DrawRunner } from "./orders/draw/draw-runner.do";
export { OrderShard } from "./orders/shard/order-shard.do";
export { GatewayPacer } from "./payments/gateway-pacer.do";
export { GatewaySimulator } from "./payments/simulator.do";
export { WebhookEndpoints } from "./webhooks/endpoints.do";

// The simulator tells the order shards of its payments as a gateway's webhooks would.
sendSimulatorEventsTo(announceGatewayEvent);

/** Whether this isolate has said, at its first request, that the shop cannot take payments. */
let paymentsAnnounced = false;

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    if (!paymentsAnnounced) {
      paymentsAnnounced = true;
      try {
        const payments = paymentMode(env);
        if (!payments.ready) logEvent("error", "checkout is refused: payments are not configured", payments);
        if (env.TURNSTILE_SECRET && !env.TURNSTILE_SITE_KEY) {
          logEvent("error", "joining a drop needs a Turnstile token the storefront cannot get", {
            problem: "TURNSTILE_SECRET is set without TURNSTILE_SITE_KEY",
          });
        }
      } catch (error) {
        logEvent("error", "the configuration could not be read", { error: String(error) });
      }
    }
    const started = performance.now();
    const answer = answerEarly(request, env, (routed) => app.fetch(routed, env, ctx));
    if (request.method === "POST" && pathOf(request.url) === "/v1/checkout") {
      return countCheckout(answer, env, ctx, started);
    }
    handOn(env, ctx);
    return answer;
  },

  async queue(batch, env, _ctx) {
    // Load tests only: a fault injected through /v1/admin/faults may take the batch (docs/chaos.md).
    if (env.FAULT_INJECTION === "true" && faultInjectionOn(env) && injectQueueFault(batch)) return;
    if (batch.queue === PAYMENTS_QUEUE) return consumePayments(batch, env);
    if (batch.queue === PAYMENTS_DLQ) return consumeDeadPayments(batch, env);
    if (batch.queue === WEBHOOKS_QUEUE) return consumeWebhooks(batch, env);
    if (batch.queue === WEBHOOKS_DLQ) return consumeDeadWebhooks(batch, env);
    // A queue this worker does not know: keep the messages for a consumer that does.
    logEvent("error", "no consumer for queue", { queue: batch.queue });
    batch.retryAll({ delaySeconds: 60 });
  },

  async scheduled(controller, env, ctx) {
    ctx.waitUntil(reconcile(env).then((report) => logEvent("info", "reconciled", report)));
    ctx.waitUntil(republishRecentProducts(env, new Date(controller.scheduledTime - 10 * 60_000)));
    // Split caps whose change was left half-done are completed first, so the republish that follows
    // copies their newest version.
    const completed = completeCapChanges(env, new Date(controller.scheduledTime))
      .then((count) => {
        if (count > 0) logEvent("info", "split caps' changes completed", { count });
      })
      .catch((error: unknown) =>
        logEvent("warn", "split caps' changes not completed; the next cron tries again", {
          error: String(error),
        }),
      );
    ctx.waitUntil(
      completed.then(() =>
        republishDiscounts(env, new Date(controller.scheduledTime)).catch((error: unknown) =>
          logEvent("warn", "discount codes not republished to KV; the next cron tries again", {
            error: String(error),
          }),
        ),
      ),
    );
    ctx.waitUntil(
      republishSettings(env).catch((error: unknown) =>
        logEvent("warn", "pricing settings not republished to KV; the next cron tries again", {
          error: String(error),
        }),
      ),
    );
    ctx.waitUntil(
      tellRoomsOfChangedDrops(env, new Date(controller.scheduledTime - 10 * 60_000)).catch((error: unknown) =>
        logEvent("warn", "waiting rooms not told of changed drops; the next cron tries again", {
          error: String(error),
        }),
      ),
    );
  },
} satisfies ExportedHandler<Env>;
