#!/usr/bin/env node
// `npm run bench`: throughput of Stampede's hot paths on the local workerd harness, each beside
// the ceiling of the same harness serving a bare worker, measured in the same run. Writes
// loadtest/reports/bench.json ([{ name, rps, p50Ms, p99Ms, bareRps, ratio }]) and prints a table.
import { mkdirSync, writeFileSync } from "node:fs";
import { adminClient } from "./lib/api.mjs";
import { drain } from "./lib/audit.mjs";
import { drive } from "./lib/drive.mjs";
import { startBare, startStampede } from "./lib/harness.mjs";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ADMIN_TOKEN = "bench-admin-token";
const SPREAD_SKUS = 40;
const UNLIMITED = 1_000_000_000;

async function setUp(api) {
  const variant = (sku) => ({ sku, title: sku, price: { amount: 4999, currency: "USD" }, attributes: {} });
  await api.call("POST", "/v1/admin/products", {
    slug: "bench-sneaker",
    title: "Bench Sneaker",
    category: "bench",
    variants: ["HOT-ONE", "HOT-FOUR", "GONE"].map(variant),
  });
  await api.call("POST", "/v1/admin/products", {
    slug: "bench-spread",
    title: "Bench Spread",
    category: "bench",
    variants: Array.from({ length: SPREAD_SKUS }, (_, i) => variant(`SPREAD-${i}`)),
  });
  await api.call("PUT", "/v1/admin/inventory/HOT-ONE", { onHand: UNLIMITED });
  await api.call("PUT", "/v1/admin/inventory/HOT-FOUR", { onHand: UNLIMITED, buckets: 4 });
  await api.call("PUT", "/v1/admin/inventory/GONE", { onHand: 0 });
  for (let i = 0; i < SPREAD_SKUS; i++)
    await api.call("PUT", `/v1/admin/inventory/SPREAD-${i}`, { onHand: UNLIMITED });
}

/** A checkout as a storefront sends it: its own client address and a fresh Idempotency-Key. */
const checkout = (pickSku) => (i) => ({
  method: "POST",
  path: "/v1/checkout",
  headers: {
    "Content-Type": "application/json",
    "Idempotency-Key": crypto.randomUUID(),
    "CF-Connecting-IP": `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  },
  body: JSON.stringify({
    items: [{ sku: pickSku(i), quantity: 1 }],
    customer: { email: "bench@example.com" },
    payment: { token: "tok_ok" },
  }),
});

const cases = [
  { name: "catalog read (hot product)", path: "/v1/products/bench-sneaker", expect: 200 },
  { name: "checkout, hot SKU, one object", request: checkout(() => "HOT-ONE"), expect: 202 },
  { name: "checkout, hot SKU, 4 buckets", request: checkout(() => "HOT-FOUR"), expect: 202 },
  { name: "checkout, sold-out fast path", request: checkout(() => "GONE"), expect: 409 },
  {
    name: `checkout spread over ${SPREAD_SKUS} SKUs`,
    request: checkout((i) => `SPREAD-${i % SPREAD_SKUS}`),
    expect: 202,
  },
];

const bare = await startBare();
const stampede = await startStampede({ bindings: { ADMIN_TOKEN, SOLD_OUT_TTL_SECONDS: "300" } });
const rows = [];
try {
  await setUp(adminClient(stampede.url, ADMIN_TOKEN));
  // One refused checkout teaches this location that GONE is sold out.
  await fetch(stampede.url + checkout(() => "GONE")(0).path, checkout(() => "GONE")(-1));
  const api = adminClient(stampede.url, ADMIN_TOKEN);
  for (const c of cases) {
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
