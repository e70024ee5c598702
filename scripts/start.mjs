#!/usr/bin/env node
// `npm start`: migrate the local D1, serve the worker on local workerd through `wrangler dev`,
// seed the demo catalog when the database is empty, and print where everything is.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { seedIfEmpty } from "./seed.mjs";

const port = Number(process.env.PORT ?? 8787);
// Local state lives in .wrangler/state unless PERSIST_TO names another folder (the browser tests
// use a fresh one).
const persist = process.env.PERSIST_TO ? ["--persist-to", process.env.PERSIST_TO] : [];
const baseUrl = `http://localhost:${port}`;
const wrangler = ["node_modules/wrangler/bin/wrangler.js"];

function devVar(name) {
  if (process.env[name]) return process.env[name];
  const line = readFileSync(".dev.vars", "utf8")
    .split("\n")
    .find((entry) => entry.startsWith(`${name}=`));
  return line?.slice(name.length + 1).trim();
}

const migrate = spawnSync(
  process.execPath,
  [...wrangler, "d1", "migrations", "apply", "DB", "--local", ...persist],
  {
    stdio: "inherit",
    env: { ...process.env, CI: "true" },
  },
);
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

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
  {
    stdio: ["inherit", "pipe", "inherit"],
  },
);
// Until the URLs are printed, the lines per request (wrangler's and the worker's own, for the health
// probes and the seed's hundreds of admin writes) are left out; everything else, and every line
// after, passes through.
let starting = true;
const requestLine = /\[wrangler:info\] (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) |"msg":"request"/;
createInterface({ input: dev.stdout }).on("line", (line) => {
  if (starting && requestLine.test(line)) return;
  process.stdout.write(`${line}\n`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));

async function waitForHealth(deadline) {
  while (Date.now() < deadline) {
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
      `Stampede is running on local workerd (state in ${process.env.PERSIST_TO ?? ".wrangler/state"}).`,
      `  Shop         ${baseUrl}/`,
      `  Ops page     ${baseUrl}/admin`,
      `  API          ${baseUrl}/v1/products`,
      `  Docs         ${baseUrl}/docs`,
      `  OpenAPI      ${baseUrl}/openapi.json`,
      `  Health       ${baseUrl}/health`,
      `  Admin token  ${adminToken}   (Authorization: Bearer ${adminToken})`,
      "",
    ].join("\n"),
  );
  starting = false;
} catch (error) {
  console.error(`start failed: ${error.message}`);
  dev.kill("SIGTERM");
  process.exitCode = 1;
}
