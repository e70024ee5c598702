/**
 * The Stampede worker plus one route the HTTP API does not have yet: reserve one unit of a SKU for a
 * fresh order through the real cart reservation. Benchmarks reach inventory through it until
 * checkout exists; everything else is the product's own app.
 */
import { app } from "../src/app";
import { ulid } from "../src/ids";
import { reserveCart } from "../src/inventory/inventory.holds";

export { SkuInventory } from "../src/inventory/inventory.do";

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname !== "/bench/reserve") return app.fetch(request, env, ctx);
    const sku = url.searchParams.get("sku") ?? "";
    const scope = {
      env,
      origin: url.origin,
      waitUntil: (promise: Promise<unknown>) => ctx.waitUntil(promise),
    };
    const result = await reserveCart(scope, ulid(), [{ sku, quantity: 1 }]);
    return Response.json({ ok: result.ok }, { status: result.ok ? 201 : 409 });
  },
} satisfies ExportedHandler<Env>;
