#!/usr/bin/env node
// `npm run bench`: throughput of Stampede's hot paths on a local workerd harness, each beside the
// ceiling of the same harness serving a bare worker, measured in the same run. Writes
// loadtest/reports/bench.json and prints a table.
import { mkdirSync, writeFileSync } from "node:fs";
import { drive } from "./lib/drive.mjs";
import { startBare, startStampede } from "./lib/harness.mjs";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ADMIN = { Authorization: "Bearer bench-admin-token", "Content-Type": "application/json" };

async function admin(base, method, path, body) {
  const response = await fetch(base + path, { method, headers: ADMIN, body: body && JSON.stringify(body) });
  if (!response.ok)
    throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

async function setUp(base) {
  const variants = ["HOT-ONE", "HOT-FOUR", "GONE"].map((sku) => ({
    sku,
    title: sku,
    price: { amount: 4999, currency: "USD" },
    attributes: {},
  }));
  const product = await admin(base, "POST", "/v1/admin/products", {
    slug: "bench-sneaker",
    title: "Bench Sneaker",
    category: "bench",
    variants,
  });
  await admin(base, "PUT", "/v1/admin/inventory/HOT-ONE", { onHand: 1_000_000_000 });
  await admin(base, "PUT", "/v1/admin/inventory/HOT-FOUR", { onHand: 1_000_000_000, buckets: 4 });
  await admin(base, "PUT", "/v1/admin/inventory/GONE", { onHand: 0 });
  // One refused reservation teaches the edge that GONE is sold out.
  await fetch(`${base}/bench/reserve?sku=GONE`, { method: "POST" });
  return product;
}

const cases = [
  { name: "catalog read (hot product)", path: "/v1/products/bench-sneaker", method: "GET", expect: 200 },
  { name: "reserve, one object", path: "/bench/reserve?sku=HOT-ONE", method: "POST", expect: 201 },
  { name: "reserve, 4 buckets", path: "/bench/reserve?sku=HOT-FOUR", method: "POST", expect: 201 },
  { name: "sold-out fast path", path: "/bench/reserve?sku=GONE", method: "POST", expect: 409 },
];

const bare = await startBare();
const stampede = await startStampede({
  entry: "loadtest/bench-worker.ts",
  name: "bench",
  bindings: { ADMIN_TOKEN: "bench-admin-token", SOLD_OUT_TTL_SECONDS: "300" },
});
const rows = [];
try {
  await setUp(stampede.url);
  for (const c of cases) {
    process.stdout.write(`${c.name}: bare ceiling... `);
    const ceiling = await drive({ url: bare.url, connections, seconds: Math.max(3, seconds / 2) });
    process.stdout.write(`${ceiling.rps} rps; measuring... `);
    await drive({ url: stampede.url + c.path, method: c.method, connections, seconds: 2 });
    const run = await drive({ url: stampede.url + c.path, method: c.method, connections, seconds });
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
console.log(`\n${connections} connections, ${seconds} s per case, workerd via Miniflare (no dev proxy)\n`);
console.table(rows);
console.log("written: loadtest/reports/bench.json");
