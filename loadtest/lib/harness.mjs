// Runs Stampede on workerd through Miniflare's API: no `wrangler dev` proxy in front, fresh
// in-memory state, the D1 migrations applied. Also runs a bare worker on the same harness, whose
// throughput is the ceiling every figure is read against.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from "wrangler";

const BUILD_DIR = "loadtest/.build";
const HOST = "127.0.0.1";

/** A port nothing listens on now; workerd is then told to listen there directly. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Bundles an entry exactly as `wrangler deploy` would, without uploading anything. */
export function bundle(entry, name, { minify = true } = {}) {
  const outdir = join(BUILD_DIR, name);
  const args = ["deploy", entry, "--dry-run", "--outdir", outdir, ...(minify ? [] : ["--no-minify"])];
  const result = spawnSync(process.execPath, ["node_modules/wrangler/bin/wrangler.js", ...args], {
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`bundling ${entry} failed:\n${result.stderr}`);
  const script = readdirSync(outdir).find((file) => file.endsWith(".js"));
  return join(outdir, script);
}

/** Applies the D1 migrations not yet applied (a restarted harness keeps its state). */
async function migrate(mf) {
  const db = await mf.getD1Database("DB");
  await db.prepare("CREATE TABLE IF NOT EXISTS loadtest_migrations (name TEXT PRIMARY KEY)").run();
  const files = readdirSync("migrations")
    .filter((file) => file.endsWith(".sql"))
    .sort();
  for (const file of files) {
    if (await db.prepare("SELECT 1 FROM loadtest_migrations WHERE name = ?").bind(file).first()) continue;
    for (const statement of unstable_splitSqlQuery(readFileSync(join("migrations", file), "utf8"))) {
      await db.prepare(statement).run();
    }
    await db.prepare("INSERT INTO loadtest_migrations (name) VALUES (?)").bind(file).run();
  }
}

/** Starts Stampede (or the bench build of it) with the bindings of wrangler.toml; answers its URL. */
export async function startStampede({
  entry = "src/index.ts",
  name = "stampede",
  bindings = {},
  scriptPath = bundle(entry, name),
  port,
  persistTo,
  inspectorPort,
} = {}) {
  port ??= await freePort();
  // The bundle is one self-contained module, so wrangler's module rules have nothing to do here.
  // The static-asset layer is left out: deployed, Cloudflare routes requests past the storefront's
  // files before the worker runs, while here its simulation would run on workerd's one thread and
  // cost each API request more than the worker's own work (2,405 against 11,879 hot product reads/s).
  const { modulesRules, assets, ...workerOptions } =
    unstable_getMiniflareWorkerOptions("wrangler.toml").workerOptions;
  const mf = start({
    ...workerOptions,
    name: "stampede",
    scriptPath,
    bindings: { ...workerOptions.bindings, ...bindings },
    port,
    persistTo,
    inspectorPort,
  });
  await mf.ready;
  await migrate(mf);
  return { url: `http://${HOST}:${port}`, mf, stop: () => mf.dispose() };
}

/** The same harness serving a worker that answers 200 at once: what this machine can do at all. */
export function startBare() {
  return serve({
    name: "bare",
    script: 'export default { fetch() { return new Response("ok"); } };',
    compatibilityDate: "2026-08-01",
  });
}

/** The same harness serving one binding call per request (see bindings-worker.mjs). */
export async function startBindings() {
  const bindings = await serve({
    name: "bindings",
    scriptPath: "loadtest/lib/bindings-worker.mjs",
    compatibilityDate: "2026-08-01",
    d1Databases: ["DB"],
    kvNamespaces: ["KV"],
    durableObjects: { STOCK: { className: "Stock", useSQLite: true } },
    queueProducers: { QUEUE: "bench-bindings" },
    queueConsumers: ["bench-bindings"],
    ratelimits: { LIMITER: { namespace_id: "1", simple: { limit: 1_000_000, period: 10 } } },
  });
  await (await bindings.mf.getD1Database("DB")).prepare("CREATE TABLE rows (id TEXT PRIMARY KEY)").run();
  return bindings;
}

/** Starts one worker on a free port and answers its URL. */
async function serve(worker) {
  const port = await freePort();
  const mf = start({ ...worker, port });
  await mf.ready;
  return { url: `http://${HOST}:${port}`, mf, stop: () => mf.dispose() };
}

let errorsShown = 0;
function reportErrors(log) {
  if (log.level !== "error" || String(log.message).includes('"level":"warn"') || errorsShown >= 20) return;
  errorsShown++;
  process.stderr.write(`[worker] ${String(log.message).slice(0, 600)}\n`);
}

/**
 * workerd listens on `port` itself (a direct socket), so requests skip Miniflare's entry worker and
 * its Node.js side: the same path a bare worker's ceiling is measured on.
 */
function start({ port, persistTo, inspectorPort, ...worker }) {
  return new Miniflare(
    convertV4MiniflareOptions({
      host: HOST,
      // Where D1, KV, Durable Objects, queues and the cache keep their state; in memory when unset.
      ...(persistTo ? { resourcePersistencePath: persistTo } : {}),
      port: 0,
      ...(inspectorPort ? { inspectorPort } : {}),
      log: new Log(LogLevel.WARN),
      // The worker's log lines would otherwise cross into this process, which also drives the load.
      // Errors are kept (a few, to stderr) so that a run's 5xx can be explained.
      handleStructuredLogs: reportErrors,
      workers: [{ ...worker, modules: true, unsafeDirectSockets: [{ host: HOST, port }] }],
    }),
  );
}
