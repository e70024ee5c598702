#!/usr/bin/env node
// `npm run loadtest -- <scenario> [--target URL] [--admin-token TOKEN] [--step-seconds N]`
// Starts Stampede on a local workerd harness (fresh state, seeded catalog) unless --target names a
// running deployment; finds the knee with an open-model step ramp (or runs the scenario's fixed
// phases); drains; audits; writes a report under loadtest/reports/. Exits non-zero when the audit
// fails or the run was invalid.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FLASH_SALE } from "../scripts/demo-catalog.mjs";
import { seedIfEmpty } from "../scripts/seed.mjs";
import { adminClient } from "./lib/api.mjs";
import { runPhase } from "./lib/artillery.mjs";
import { audit, auditLine, baseline, drain } from "./lib/audit.mjs";
import { drive } from "./lib/drive.mjs";
import { startBare, startStampede } from "./lib/harness.mjs";
import { writeReport } from "./lib/report.mjs";
import { scenarios } from "./scenarios.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    target: { type: "string" },
    "admin-token": { type: "string" },
    "step-seconds": { type: "string", default: "10" },
  },
});
const name = positionals[0];
const scenario = scenarios[name];
if (!scenario) {
  console.error(
    `usage: npm run loadtest -- <${Object.keys(scenarios).join("|")}> [--target URL] [--admin-token TOKEN]`,
  );
  process.exit(2);
}
const stepSeconds = Number(values["step-seconds"]);
const adminToken = values["admin-token"] ?? process.env.ADMIN_TOKEN ?? "loadtest-admin-token";
const log = (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const startedAt = new Date();
const workdir = mkdtempSync(join(tmpdir(), "stampede-loadtest-"));

let ceiling = null;
let stampede = null;
let target = values.target;
if (!target) {
  log("measuring the bare-worker ceiling of this harness...");
  const bare = await startBare();
  try {
    ceiling = await drive({ url: bare.url, connections: 50, seconds: 5 });
  } finally {
    await bare.stop();
  }
  log(`ceiling: ${ceiling.rps} requests/s (bare worker, same harness)`);
  stampede = await startStampede({
    bindings: {
      ADMIN_TOKEN: adminToken,
      PAYMENT_RETRY_BASE_SECONDS: "0",
      PAYMENT_RETRY_MAX_DELAY_SECONDS: "1",
    },
  });
  target = stampede.url;
  await seedIfEmpty(target, adminToken, log);
}

let exitCode = 0;
try {
  const api = adminClient(target, adminToken);
  const listed = await (await fetch(`${target}/v1/products?limit=100`)).json();
  const products = listed.items.map((p) => ({
    slug: p.slug,
    category: p.category,
    skus: p.variants.map((v) => v.sku),
  }));
  const catalogFile = join(workdir, "catalog.json");
  writeFileSync(catalogFile, JSON.stringify({ products }));
  const acceptedFile = join(workdir, "accepted.txt");
  writeFileSync(acceptedFile, "");
  const watched = [...new Set([FLASH_SALE.sku, ...products.flatMap((p) => p.skus)])];
  const before = await baseline(api, watched);
  const env = { ...scenario.env, LOADTEST_CATALOG: catalogFile, LOADTEST_ACCEPTED_FILE: acceptedFile };

  log(`${name}: ${scenario.description}`);
  const plan =
    scenario.phases ?? scenario.steps.map((rate) => ({ name: `${rate}/s`, rate, seconds: stepSeconds }));
  const steps = [];
  let kneeIndex = -1;
  let invalid = null;
  for (const phase of plan) {
    const step = await runPhase({
      target,
      flow: scenario.flow,
      rate: phase.rate,
      seconds: phase.seconds,
      workdir,
      name: phase.name.replace(/[^\w-]/g, "_"),
      env,
    });
    steps.push({ name: phase.name, ...step });
    const base = steps[0].p99Ms ?? 0;
    const healthy = step.errorRate < 0.001 && (step.p99Ms ?? Infinity) <= Math.max(2 * base, 1);
    log(
      `${phase.name.padEnd(12)} offered ${String(phase.rate).padStart(5)}/s  ${String(step.achievedRps).padStart(6)} req/s  ` +
        `p50 ${step.p50Ms} p95 ${step.p95Ms} p99 ${step.p99Ms} ms  ok ${step.mix.ok} sold-out ${step.mix.soldOut} ` +
        `429 ${step.mix.rateLimited} 4xx ${step.mix.clientErrors} 5xx/net ${step.mix.serverErrors + step.mix.networkErrors}  ` +
        `generator ${step.generatorSaturated ? "SATURATED" : "ok"}`,
    );
    if (step.generatorSaturated) {
      invalid = `the load generator could not keep up at ${phase.rate}/s (cpu ${step.generatorCpu}); figures past this step are not the service's`;
      break;
    }
    if (!scenario.phases) {
      if (!healthy) break;
      kneeIndex = steps.length - 1;
    }
  }

  log("draining: waiting for every order to settle...");
  const remaining = await drain(api, { deadlineMs: 120_000, log });
  if (remaining > 0) log(`drain deadline passed with ${remaining} orders pending`);
  const result = await audit(api, { before, acceptedFile });
  const paths = writeReport({
    scenario: name,
    target,
    ceiling,
    steps,
    kneeIndex,
    invalid,
    audit: result,
    startedAt,
  });
  if (kneeIndex >= 0) {
    const knee = steps[kneeIndex];
    log(
      `knee: ${knee.offered} users/s, ${knee.achievedRps} req/s${ceiling ? ` = ${(knee.achievedRps / ceiling.rps).toFixed(2)} of the ${ceiling.rps} req/s ceiling` : ""}`,
    );
  }
  log(`report: ${paths.html} (data: ${paths.json})`);
  console.log(auditLine(result));
  if (!result.passed) exitCode = 1;
  if (invalid) {
    console.log(`invalid: ${invalid}`);
    exitCode = exitCode || 3;
  }
} finally {
  if (stampede) await stampede.stop();
}
process.exit(exitCode);
