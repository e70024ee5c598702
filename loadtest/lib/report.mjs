// The run's report: JSON for machines, one self-contained HTML page with an SVG chart of latency
// and throughput against offered load, the knee marked when the run was a ramp, for people.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { auditSection } from "./audit-table.mjs";

const escapeHtml = (text) => String(text).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

function chart(steps, kneeIndex) {
  const width = 720;
  const height = 320;
  const pad = { left: 60, right: 60, top: 20, bottom: 40 };
  const xs = steps.map((s) => s.offered);
  const maxX = Math.max(...xs, 1);
  const maxLatency = Math.max(...steps.map((s) => s.p99Ms ?? 0), 1);
  const maxRps = Math.max(...steps.map((s) => s.achievedRps), 1);
  const minX = Math.min(...xs, maxX);
  const span = Math.log2(maxX / minX) || 1;
  const x = (v) => pad.left + 20 + (Math.log2(v / minX) / span) * (width - pad.left - pad.right - 40);
  const yL = (v) => height - pad.bottom - (v / maxLatency) * (height - pad.top - pad.bottom);
  const yR = (v) => height - pad.bottom - (v / maxRps) * (height - pad.top - pad.bottom);
  const line = (pick, y) =>
    steps.map((s, i) => `${i ? "L" : "M"}${x(s.offered).toFixed(1)},${y(pick(s)).toFixed(1)}`).join(" ");
  const knee = kneeIndex >= 0 ? steps[kneeIndex] : null;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="p99 latency and throughput against offered load">
<rect width="100%" height="100%" fill="#fff"/>
<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="#888"/>
<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="#888"/>
${steps.map((s) => `<text x="${x(s.offered)}" y="${height - pad.bottom + 16}" font-size="11" text-anchor="middle">${s.offered}</text>`).join("")}
<text x="${width / 2}" y="${height - 6}" font-size="12" text-anchor="middle">offered load (new users per second, log scale)</text>
<text x="12" y="${pad.top + 10}" font-size="12" fill="#c03">p99 ms (max ${Math.round(maxLatency)})</text>
<text x="${width - 12}" y="${pad.top + 10}" font-size="12" fill="#06c" text-anchor="end">requests/s (max ${maxRps})</text>
<path d="${line((s) => s.p99Ms ?? 0, yL)}" fill="none" stroke="#c03" stroke-width="2"/>
<path d="${line((s) => s.achievedRps, yR)}" fill="none" stroke="#06c" stroke-width="2"/>
${knee ? `<line x1="${x(knee.offered)}" y1="${pad.top}" x2="${x(knee.offered)}" y2="${height - pad.bottom}" stroke="#0a6" stroke-dasharray="4 3"/><text x="${x(knee.offered) + 4}" y="${pad.top + 24}" font-size="12" fill="#0a6">knee: ${knee.offered}/s</text>` : ""}
</svg>`;
}

const CRITERIA =
  "the highest step whose p99 stays within 2x of the first step's p99 with under 0.1% errors (sold-out 409s and 429s are expected answers, counted apart)";

/**
 * What the report says of the knee. Only a ramp (rising steps of offered load) has one; a scenario
 * of fixed phases (the smoke, a crash, a drop) says so instead of claiming it found none.
 */
export function kneeSentence({ ramp, steps, kneeIndex, ceiling, failure }) {
  if (failure) return "Knee: not measured, the run did not finish.";
  if (!ramp)
    return `Knee: not measured. This scenario runs fixed phases (${escapeHtml(steps.map((s) => s.name ?? s.offered).join(", ") || "none")}), not a ramp of rising load, so there is no knee to find; the ramp scenarios (browse, funnel, spike) find it.`;
  if (kneeIndex < 0) return `Knee: none found, the first step already failed the criteria (${CRITERIA}).`;
  const knee = steps[kneeIndex];
  const share = ceiling ? ` (${(knee.achievedRps / ceiling.rps).toFixed(2)} of the ceiling)` : "";
  const atLeast = kneeIndex === steps.length - 1;
  return `Knee: ${atLeast ? "at least " : ""}<strong>${knee.offered} users/s</strong>, ${knee.achievedRps} requests/s${share}${atLeast ? "; every step met the criteria, so the ramp ended before the service bent" : ""}. The knee is ${CRITERIA}.`;
}

/**
 * `ramp`: the run offered rising steps of load (the only kind of run with a knee).
 * `failure`, when the harness could not finish the run: `{ stage, reason, codes, server }`.
 */
export function writeReport({
  scenario,
  target,
  ceiling,
  steps,
  kneeIndex,
  ramp = false,
  invalid,
  audit,
  startedAt,
  failure = null,
}) {
  mkdirSync("loadtest/reports", { recursive: true });
  const stamp = startedAt.toISOString().replaceAll(":", "-").replace(/\..*/, "");
  const base = join("loadtest/reports", `${scenario}-${stamp}`);
  const data = {
    scenario,
    target,
    startedAt: startedAt.toISOString(),
    ceiling,
    ramp,
    knee: ramp ? (steps[kneeIndex] ?? null) : null,
    invalid,
    failure,
    steps,
    audit,
  };
  writeFileSync(`${base}.json`, `${JSON.stringify(data, null, 2)}\n`);
  const rows = steps
    .map(
      (s, i) =>
        `<tr${ramp && i === kneeIndex ? ' class="knee"' : ""}><td>${escapeHtml(s.name ?? s.offered)}</td><td>${s.offered}</td><td>${s.achievedRps}</td><td>${s.p50Ms}</td><td>${s.p95Ms}</td><td>${s.p99Ms}</td><td>${s.mix.ok}</td><td>${s.mix.soldOut}</td><td>${s.mix.rateLimited}</td><td>${s.mix.clientErrors}</td><td>${s.mix.serverErrors + s.mix.networkErrors}</td><td>${(s.errorRate * 100).toFixed(2)}%</td><td>${s.generatorSaturated ? "saturated" : "ok"}</td></tr>`,
    )
    .join("");
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stampede load test: ${escapeHtml(scenario)}</title>
<style>body{font:14px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}td.text{text-align:left}tr.knee{background:#e8f7ee}.bad{color:#c03}details{margin:.5rem 0}summary{cursor:pointer}</style></head><body>
<h1>Load test: ${escapeHtml(scenario)}</h1>
<p>Target ${escapeHtml(target)}, started ${escapeHtml(startedAt.toISOString())}. Bare-worker ceiling on the same harness: ${ceiling ? `${ceiling.rps} requests/s` : "not measured (remote target)"}.</p>
<p>${kneeSentence({ ramp, steps, kneeIndex, ceiling, failure })}</p>
${invalid ? `<p class="bad">Invalid run: ${escapeHtml(invalid)}</p>` : ""}
${failure ? `<p class="bad">The run failed while ${escapeHtml(failure.stage)}: ${escapeHtml(failure.reason)}${failure.server ? ` (the server: ${escapeHtml(failure.server)})` : ""}. No audit was made.</p>` : ""}
${chart(steps, ramp ? kneeIndex : -1)}
<table><tr><th>step</th><th>offered users/s</th><th>requests/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>2xx/3xx</th><th>sold out</th><th>429</th><th>other 4xx</th><th>5xx/net</th><th>errors</th><th>generator</th></tr>${rows}</table>
${audit ? auditSection(audit) : ""}
</body></html>`;
  writeFileSync(`${base}.html`, html);
  return { json: `${base}.json`, html: `${base}.html` };
}
