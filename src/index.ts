import { app } from "./app";
import { republishRecentProducts } from "./catalog/catalog.service";

export { SkuInventory } from "./inventory/inventory.do";

export default {
  fetch: app.fetch,

  async queue(batch) {
    // No consumer is attached to these queues yet: keep every message for a later delivery rather
    // than acknowledging work nobody did.
    console.error(JSON.stringify({ level: "error", msg: "no consumer for queue", queue: batch.queue }));
    batch.retryAll({ delaySeconds: 60 });
  },

  async scheduled(controller, env, ctx) {
    ctx.waitUntil(republishRecentProducts(env, new Date(controller.scheduledTime - 10 * 60_000)));
  },
} satisfies ExportedHandler<Env>;
