// Runs Stampede on workerd through Miniflare's API: no `wrangler dev` proxy in front, fresh
// in-memory state, the D1 migrations applied. Also runs a bare worker on the same harness, whose
// throughput is the ceiling every figure is read against.
//
// Ports: workerd binds port 0 and the harness reads back the port it got, so no other process on a
// busy machine can take a port between its choice and its bind (choosing a free port and handing it
// to workerd afterwards lost that race once: "Address already in use", an uncaught MiniflareCoreError).
// A port asked for by name (a restart on the same state and URL) is retried while it is in use.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from "wrangler";

const BUILD_DIR = "loadtest/.build";
const HOST = "127.0.0.1";

/**
 * A port nothing listens on now. Another process may take it before it is bound again: use it only
 * where a port must be known before the listener starts (an inspector), never for a worker's socket.
 */
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
  port = 0,
  persistTo,
  inspectorPort,
  migrations = true,
} = {}) {
  // The bundle is one self-contained module, so wrangler's module rules have nothing to do here.
  // The static-asset layer is left out: deployed, Cloudflare routes requests past the storefront's
  // files before the worker runs, while here its simulation would run on workerd's one thread and
  // cost each API request more than the worker's own work (2,405 against 11,879 hot product reads/s).
  const { modulesRules, assets, ...workerOptions } =
    unstable_getMiniflareWorkerOptions("wrangler.toml").workerOptions;
  const server = await serve(
    {
      ...workerOptions,
      name: "stampede",
      scriptPath,
      bindings: { ...workerOptions.bindings, ...bindings },
    },
    { port, persistTo, inspectorPort },
  );
  // `migrations: false` on a restart over state already migrated, under load: Miniflare's binding
  // proxy makes synchronous calls (Atomics.wait) that stop this thread reading workerd's stdout, and
  // a restarted runtime answering a crowd of retries fills that pipe and waits on it: a deadlock.
  if (!migrations) return server;
  try {
    await migrate(server.mf);
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
  return server;
}

/** The same harness serving a worker that answers 200 at once: what this machine can do at all. */
export function startBare({ port = 0 } = {}) {
  return serve(
    {
      name: "bare",
      script: 'export default { fetch() { return new Response("ok"); } };',
      compatibilityDate: "2026-08-01",
    },
    { port },
  );
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

/** How long a port asked for by name is waited for while another socket holds it. */
const PORT_IN_USE_WAIT_MS = Number(process.env.LOADTEST_PORT_WAIT_MS ?? 15_000);

/**
 * Starts one worker on `port` (0: the port workerd is given by the system) and answers its URL.
 * A named port that is in use is asked for again every half second until PORT_IN_USE_WAIT_MS; then,
 * or on any other failure to start, the promise rejects with the reason (never an uncaught error).
 */
async function serve(worker, { port = 0, ...options } = {}) {
  const deadline = Date.now() + PORT_IN_USE_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    const mf = start({ ...worker, ...options, port });
    try {
      await mf.ready;
      const url = (await mf.unsafeGetDirectURL(worker.name)).origin;
      return { url, mf, stop: () => mf.dispose() };
    } catch (error) {
      await mf.dispose().catch(() => {});
      const inUse = error?.code === "ERR_ADDRESS_IN_USE";
      if (inUse && port !== 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      const what = inUse
        ? `port ${HOST}:${port} stayed in use (${attempt} attempts)`
        : `workerd did not start${port ? ` on ${HOST}:${port}` : ""}`;
      throw new Error(`${worker.name}: ${what}: ${error?.message ?? error}`, { cause: error });
    }
  }
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
