#!/usr/bin/env node
// Bundles the worker exactly as `wrangler deploy` would (without uploading) and fails when the
// gzip size passes the budget: a slow cold start costs most on the day traffic spikes.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET_KIB = 512;
const outdir = "dist";
const build = spawnSync(
  process.execPath,
  ["node_modules/wrangler/bin/wrangler.js", "deploy", "--dry-run", "--outdir", outdir],
  { stdio: "inherit" },
);
if (build.status !== 0) process.exit(build.status ?? 1);

const gzipKiB = gzipSync(readFileSync(`${outdir}/index.js`)).length / 1024;
console.log(`bundle: ${gzipKiB.toFixed(1)} KiB gzip (budget ${BUDGET_KIB} KiB)`);
if (gzipKiB > BUDGET_KIB) {
  console.error("bundle: over budget");
  process.exit(1);
}
