#!/usr/bin/env node
// `npm run bench`: throughput of Stampede's hot paths on the local workerd harness, each beside
// the ceiling of the same harness serving a bare worker, measured in the same run. Writes
// loadtest/reports/bench.json ([{ name, rps, p50Ms, p99Ms, bareRps, ratio, costUs, cpuUs, bareCpuUs,
// cpuRatio, cpuUsPerOrder, sustainableOrdersPerSec }]) and prints a table. `costUs` is what one request adds to the bare
// worker's time on workerd's one thread; for checkouts, `cpuUsPerOrder` is workerd's CPU per order
// until it is settled, payment included; for answers that settle nothing later (reads, refusals),
// `cpuUs` is workerd's CPU per answer and `cpuRatio` the bare worker's over it (`bareCpuUs`), read
// from /proc, so a load generator starved by other work on the machine does not move them. The
// "binding:" rows time a single call of each binding
// checkout uses, alone in a request.
import { mkdirSync, writeFileSync } from "node:fs";
import { adminClient } from "./lib/api.mjs";
import { drain } from "./lib/audit.mjs";
import { ADMIN_TOKEN, cases, learnSoldOut, setUp } from "./lib/bench-cases.mjs";
import { cpuSeconds, workerdPids } from "./lib/cpu.mjs";
import { drive } from "./lib/drive.mjs";
import { reportUncaught } from "./lib/failure.mjs";
import { startBare, startBindings, startStampede } from "./lib/harness.mjs";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const only = process.argv.slice(2);
const selected = only.length ? cases.filter((c) => only.includes(c.id)) : cases;
const withBindings = only.length === 0 || only.includes("bindings");
if (selected.length === 0 && !withBindings) {
  console.error(`usage: npm run bench [-- <${[...cases.map((c) => c.id), "bindings"].join("|")}> ...]`);
  process.exit(2);
}

/** One call of each binding a checkout makes, alone in a request: the floor under checkout's figures. */
const bindingCalls = [
  { path: "/rate-limit", name: "binding: rate limiter .limit()" },
  { path: "/d1-insert", name: "binding: D1 insert" },
  { path: "/d1-batch", name: "binding: D1 batch of 3 inserts" },
  { path: "/d1-read", name: "binding: D1 read" },
  { path: "/object-write", name: "binding: Durable Object call + SQLite write" },
  { path: "/object-call", name: "binding: Durable Object call" },
  { path: "/queue-send", name: "binding: queue send" },
  { path: "/kv-read", name: "binding: KV read" },
  { path: "/cache-match", name: "binding: Cache API match" },
];

/** Microseconds of workerd's thread one request adds over the bare worker's. */
const costUs = (rps, bareRps) => Math.round(1e6 / rps - 1e6 / bareRps);

reportUncaught("bench");
const bare = await startBare();
const others = new Set(workerdPids(process.pid));
const stampede = await startStampede({ bindings: { ADMIN_TOKEN, SOLD_OUT_TTL_SECONDS: "300" } });
const stampedePids = workerdPids(process.pid).filter((pid) => !others.has(pid));
const rows = [];

/**
 * What an accepted order costs until it is settled (paid, its stock sold, its record written): the
 * CPU workerd spent from the start of the run until every order of it was drained, per order. One
 * core can sustain 1e6 / cpuUsPerOrder orders a second; the rps of the run alone can look better
 * than that when the payments of its orders are still queued when it ends.
 */
async function settledCost(settle, cpuBefore, orders) {
  if (!settle || orders === 0) return {};
  await settle();
  const cpuAfter = cpuSeconds(stampedePids);
  if (cpuBefore === null || cpuAfter === null) return {};
  const cpuUsPerOrder = Math.round(((cpuAfter - cpuBefore) * 1e6) / orders);
  return { cpuUsPerOrder, sustainableOrdersPerSec: Math.round(1e6 / cpuUsPerOrder) };
}

const answered = (run) => Object.values(run.statuses).reduce((n, count) => n + count, 0);

/** workerd's CPU per answer over a run (µs), read from /proc: unlike rps, not moved by a starved load generator. */
function cpuPerAnswer(pids, before, run) {
  const after = cpuSeconds(pids);
  const answers = answered(run);
  return before === null || after === null || answers === 0
    ? undefined
    : Math.round(((after - before) * 1e6) / answers);
}

async function measure(name, target, expect, settle) {
  process.stdout.write(`${name}: bare ceiling... `);
  const bareCpuBefore = cpuSeconds([...others]);
  const ceiling = await drive({ url: bare.url, connections, seconds: Math.max(3, seconds / 2) });
  const bareCpuUs = cpuPerAnswer([...others], bareCpuBefore, ceiling);
  process.stdout.write(`${ceiling.rps} rps; measuring... `);
  await drive({ ...target, connections, seconds: 2 });
  if (settle) await settle();
  const cpuBefore = cpuSeconds(stampedePids);
  const run = await drive({ ...target, connections, seconds });
  // Answers that settle nothing later (reads, refusals): workerd's CPU per answer, against the bare worker's.
  const cpuUs = expect === 202 ? undefined : cpuPerAnswer(stampedePids, cpuBefore, run);
  const unexpected = Object.entries(run.statuses)
    .filter(([status]) => Number(status) !== expect)
    .reduce((n, [, count]) => n + count, 0);
  const settled = await settledCost(expect === 202 ? settle : null, cpuBefore, run.statuses[202] ?? 0);
  console.log(
    `${run.rps} rps${settled.cpuUsPerOrder ? `, ${settled.cpuUsPerOrder} µs of CPU per settled order` : ""}`,
  );
  rows.push({
    name,
    rps: run.rps,
    p50Ms: run.p50Ms,
    p99Ms: run.p99Ms,
    bareRps: ceiling.rps,
    ratio: Math.round((run.rps / ceiling.rps) * 100) / 100,
    costUs: costUs(run.rps, ceiling.rps),
    ...(cpuUs && bareCpuUs
      ? { cpuUs, bareCpuUs, cpuRatio: Math.round((bareCpuUs / cpuUs) * 100) / 100 }
      : {}),
    ...settled,
    unexpected: unexpected + run.errors,
  });
}

try {
  await setUp(adminClient(stampede.url, ADMIN_TOKEN));
  await learnSoldOut(stampede.url);
  const api = adminClient(stampede.url, ADMIN_TOKEN);
  const settle = () => drain(api, { deadlineMs: 180_000, log: () => {} });
  for (const c of selected) {
    // Payments queued by the previous case would otherwise run during this one.
    await settle();
    await measure(c.name, { url: stampede.url + (c.path ?? "/"), request: c.request }, c.expect, settle);
  }
  if (withBindings) {
    // Nothing of Stampede's may run beside these: its last payments compete for the same cores.
    await drain(api, { deadlineMs: 120_000, log: () => {} });
    await stampede.stop();
    const bindings = await startBindings();
    try {
      for (const call of bindingCalls) await measure(call.name, { url: bindings.url + call.path }, 200);
    } finally {
      await bindings.stop();
    }
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
