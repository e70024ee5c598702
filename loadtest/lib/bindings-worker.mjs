// One binding call per request, each on its own path: what a single call costs on the local harness,
// where the simulations of D1, Durable Objects, queues and the rate limiter share workerd's one thread
// with the worker. `npm run bench` reads checkout's figures against these.
import { DurableObject } from "cloudflare:workers";

export class Stock extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS holds (id TEXT PRIMARY KEY, quantity INTEGER)");
  }
  hold(id) {
    this.ctx.storage.sql.exec("INSERT INTO holds (id, quantity) VALUES (?, 1)", id);
    return true;
  }
  ping() {
    return true;
  }
}

let sequence = 0;

export default {
  async fetch(request, env) {
    const id = `${Date.now()}-${sequence++}-${Math.random()}`;
    const insert = (suffix) => env.DB.prepare("INSERT INTO rows (id) VALUES (?)").bind(id + suffix);
    switch (new URL(request.url).pathname) {
      case "/d1-insert":
        await insert("").run();
        break;
      case "/d1-batch":
        await env.DB.batch([insert("a"), insert("b"), insert("c")]);
        break;
      case "/d1-read":
        await env.DB.prepare("SELECT 1").first();
        break;
      case "/object-write":
        await env.STOCK.getByName("hot").hold(id);
        break;
      case "/object-call":
        await env.STOCK.getByName("hot").ping();
        break;
      case "/queue-send":
        await env.QUEUE.send({ id });
        break;
      case "/rate-limit":
        await env.LIMITER.limit({ key: id.slice(-8) });
        break;
      case "/kv-read":
        await env.KV.get("absent");
        break;
      case "/cache-match":
        await caches.default.match("https://bench.example/absent");
        break;
      default:
        return new Response("unknown", { status: 404 });
    }
    return new Response("ok");
  },
  async queue(batch) {
    batch.ackAll();
  },
};
