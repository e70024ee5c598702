#!/usr/bin/env node
// `npm start`: migrate the local D1, serve the worker on local workerd through `wrangler dev`,
// seed the demo catalog when the database is empty, and print where everything is, last.
//
// Quiet by default: wrangler's tables and notices that ask nothing of a newcomer are left out, the
// worker's JSON log lines are printed as one short line each, and the lines per request are off
// (`npm start -- --requests` or STAMPEDE_LOG_REQUESTS=1 turns them on; `--verbose` or
// STAMPEDE_VERBOSE=1 passes wrangler's output through untouched).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { seedIfEmpty } from "./seed.mjs";

const { values: flags } = parseArgs({
  options: { requests: { type: "boolean" }, verbose: { type: "boolean" } },
});
const on = (name) => ["1", "true", "yes"].includes((process.env[name] ?? "").toLowerCase());
const logRequests = flags.requests || on("STAMPEDE_LOG_REQUESTS");
const verbose = flags.verbose || on("STAMPEDE_VERBOSE");

const port = Number(process.env.PORT ?? 8787);
// Local state lives in .wrangler/state unless PERSIST_TO names another folder (the browser tests
// use a fresh one).
const statePath = process.env.PERSIST_TO ?? ".wrangler/state";
const persist = process.env.PERSIST_TO ? ["--persist-to", process.env.PERSIST_TO] : [];
const baseUrl = `http://localhost:${port}`;
const wrangler = ["node_modules/wrangler/bin/wrangler.js"];
// Offline, miniflare's fetch of the `Request.cf` placeholder fails with a stack trace on every
// start; locally the built-in placeholder is all the worker needs.
const wranglerEnv = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };

function devVar(name) {
  if (process.env[name]) return process.env[name];
  const line = readFileSync(".dev.vars", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith(`${name}=`));
  return line?.slice(name.length + 1).trim();
}

/** Whether something already listens on the port (another `npm start`, say): its /health would answer for ours. */
function portTaken() {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", (error) => resolve(error.code === "EADDRINUSE"));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(false)));
  });
}

if (await portTaken()) {
  console.error(
    `start failed: port ${port} is in use (another npm start?). Stop it, or: PORT=${port + 1} npm start`,
  );
  process.exit(1);
}

// wrangler prints a table of every migration after each one it applies: one line says it instead,
// and on failure everything it printed is shown.
const migrate = spawnSync(
  process.execPath,
  [...wrangler, "d1", "migrations", "apply", "DB", "--local", ...persist],
  { encoding: "utf8", env: { ...wranglerEnv, CI: "true" } },
);
if (migrate.status !== 0) {
  process.stdout.write(migrate.stdout);
  process.stderr.write(migrate.stderr);
  console.error("start failed: the local D1 migrations did not apply (above)");
  process.exit(migrate.status ?? 1);
}
const applied = migrate.stdout.match(/About to apply (\d+) migration/)?.[1];
console.log(
  applied
    ? `Local D1: applied ${applied} migration${applied === "1" ? "" : "s"} (${statePath})`
    : `Local D1: up to date (${statePath})`,
);

// STAMPEDE_VARS="PAYMENT_PROVIDER=stripe,STRIPE_API_BASE=http://127.0.0.1:12111" sets worker
// variables for this run over wrangler.toml's and .dev.vars' (to try Stripe locally, say).
const vars = (process.env.STAMPEDE_VARS ?? "")
  .split(/[,\n]/)
  .map((entry) => entry.trim())
  .filter(Boolean)
  .flatMap((entry) => ["--var", entry.replace("=", ":")]);

const dev = spawn(
  process.execPath,
  [...wrangler, "dev", "--port", String(port), "--ip", "127.0.0.1", ...persist, ...vars],
  { stdio: ["inherit", "pipe", "pipe"], env: wranglerEnv },
);

// What of wrangler's output is left out unless --verbose: notices with nothing to act on locally,
// and blocks (a first line, then everything up to the next blank line).
const noise = [
  /^\s*⛅️ wrangler /,
  /^─+$/,
  /^Cloudflare collects anonymous telemetry/,
  /^Using (secrets|vars) defined in \.dev\.vars/,
  /^⎔ (Starting|Reloading) local server|^⎔ Connection status updated/,
  /^\[wrangler:info\] (Ready on |✨ Parsed \d+ valid header rule)/,
  /^\s*╭|^\s*│|^\s*╰/, // the interactive key hints' box
];
// [first line, last line]: the bindings table (twice on a reload) and the cron notice (the
// 5-minute cron's work is done locally by POST /v1/admin/reconcile).
const noiseBlocks = [
  [/^Your Worker has access to the following bindings:/, /^\s*$/],
  [
    /Scheduled Workers are not automatically triggered during local development/,
    /test-cron-triggers-locally/,
  ],
];
// A line per request and per queue batch (wrangler's), and the worker's own line per request.
const requestLine = /\[wrangler:info\] (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|QUEUE) /;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes are control characters
const ansi = /\u001b\[[0-9;]*m/g;
let blockEnd = null;

/** The worker's own log line ({"level","msg",...}) as one short line; null for anything else. */
function workerLine(plain) {
  const start = plain.indexOf('{"level":');
  if (start === -1) return undefined;
  let entry;
  try {
    entry = JSON.parse(plain.slice(start));
  } catch {
    return undefined;
  }
  const { level, msg, ...fields } = entry;
  if (msg === "request")
    return logRequests ? `${level.padEnd(5)} ${fields.method} ${fields.path} ${fields.status}` : null;
  const detail = Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return `${level.padEnd(5)} ${msg}${detail ? `  ${detail}` : ""}`;
}

function filter(line) {
  if (verbose) return line;
  const plain = line.replace(ansi, "");
  if (blockEnd) {
    if (blockEnd.test(plain)) blockEnd = null;
    return null;
  }
  const block = noiseBlocks.find(([start]) => start.test(plain));
  if (block) {
    blockEnd = block[1];
    return null;
  }
  if (noise.some((pattern) => pattern.test(plain))) return null;
  if (requestLine.test(plain)) return logRequests ? plain : null;
  const worker = workerLine(plain);
  if (worker !== undefined) return worker;
  // Blank lines only between things worth reading.
  if (plain.trim() === "") return null;
  return line;
}

for (const [stream, out] of [
  [dev.stdout, process.stdout],
  [dev.stderr, process.stderr],
]) {
  createInterface({ input: stream }).on("line", (line) => {
    const shown = filter(line);
    if (shown !== null) out.write(`${shown}\n`);
  });
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));

async function waitForHealth(deadline) {
  while (Date.now() < deadline) {
    if (dev.exitCode !== null) throw new Error("wrangler dev stopped (above)");
    try {
      if ((await fetch(`${baseUrl}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`the worker did not become healthy on ${baseUrl}`);
}

try {
  await waitForHealth(Date.now() + 90_000);
  const adminToken = devVar("ADMIN_TOKEN");
  await seedIfEmpty(baseUrl, adminToken);
  console.log(
    [
      "",
      `Stampede is running on local workerd (state in ${statePath}).`,
      `  Shop         ${baseUrl}/`,
      `  Ops page     ${baseUrl}/admin`,
      `  API          ${baseUrl}/v1/products`,
      `  Docs         ${baseUrl}/docs`,
      `  OpenAPI      ${baseUrl}/openapi.json`,
      `  Health       ${baseUrl}/health`,
      `  Admin token  ${adminToken}   (Authorization: Bearer ${adminToken})`,
      logRequests
        ? "  Requests are logged."
        : "  Requests are not logged: npm start -- --requests shows them.",
      "Ctrl-C stops it.",
      "",
    ].join("\n"),
  );
} catch (error) {
  console.error(`start failed: ${error.message}`);
  dev.kill("SIGTERM");
  process.exitCode = 1;
}
