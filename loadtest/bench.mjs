#!/usr/bin/env node
// `npm run bench`: throughput of Stampede's hot paths on the local workerd harness, each beside
// the ceiling of the same harness serving a bare worker, measured in the same run. Writes
// loadtest/reports/bench.json ([{ name, rps, p50Ms, p99Ms, bareRps, ratio }]) and prints a table.
import { mkdirSync, writeFileSync } from "node:fs";
import { adminClient } from "./lib/api.mjs";
import { drain } from "./lib/audit.mjs";
import { ADMIN_TOKEN, cases, learnSoldOut, setUp } from "./lib/bench-cases.mjs";
import { drive } from "./lib/drive.mjs";
import { startBare, startStampede } from "./lib/harness.mjs";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const only = process.argv.slice(2);
const selected = only.length ? cases.filter((c) => only.includes(c.id)) : cases;
if (selected.length === 0) {
  console.error(`usage: npm run bench [-- <${cases.map((c) => c.id).join("|")}> ...]`);
  process.exit(2);
}

const bare = await startBare();
const stampede = await startStampede({ bindings: { ADMIN_TOKEN, SOLD_OUT_TTL_SECONDS: "300" } });
const rows = [];
try {
  await setUp(adminClient(stampede.url, ADMIN_TOKEN));
  await learnSoldOut(stampede.url);
  const api = adminClient(stampede.url, ADMIN_TOKEN);
  for (const c of selected) {
    // Payments queued by the previous case would otherwise run during this one.
    await drain(api, { deadlineMs: 120_000, log: () => {} });
    process.stdout.write(`${c.name}: bare ceiling... `);
    const ceiling = await drive({ url: bare.url, connections, seconds: Math.max(3, seconds / 2) });
    process.stdout.write(`${ceiling.rps} rps; measuring... `);
    const target = { url: stampede.url + (c.path ?? "/"), request: c.request, connections };
    await drive({ ...target, seconds: 2 });
    const run = await drive({ ...target, seconds });
    const unexpected = Object.entries(run.statuses)
      .filter(([status]) => Number(status) !== c.expect)
      .reduce((n, [, count]) => n + count, 0);
    console.log(`${run.rps} rps`);
    rows.push({
      name: c.name,
      rps: run.rps,
      p50Ms: run.p50Ms,
      p99Ms: run.p99Ms,
      bareRps: ceiling.rps,
      ratio: Math.round((run.rps / ceiling.rps) * 100) / 100,
      unexpected: unexpected + run.errors,
    });
  }
} finally {
  await Promise.allSettled([stampede.stop(), bare.stop()]);
}

mkdirSync("loadtest/reports", { recursive: true });
writeFileSync("loadtest/reports/bench.json", `${JSON.stringify(rows, null, 2)}\n`);
console.log(
  `\n${connections} connections, ${seconds} s per case, workerd via Miniflare (direct socket, no dev proxy)\n`,
);
console.table(rows);
console.log("written: loadtest/reports/bench.json");
