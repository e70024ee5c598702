// Runs one Artillery phase as its own process and reads its JSON report: what one step of a ramp
// offered, what came back, and whether the load generator itself kept up.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CLOCK_TICKS = 100;

/** CPU seconds a process has used so far, from /proc (Linux). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

export async function runPhase({ target, flow, rate, seconds, workdir, name, env = {} }) {
  const config = {
    config: {
      target,
      phases: [{ duration: seconds, arrivalRate: rate, name }],
      processor: join(process.cwd(), "loadtest/processor.cjs"),
      http: { timeout: 10, pool: 200 },
    },
    scenarios: [{ name, flow }],
  };
  const configPath = join(workdir, `${name}.json`);
  const reportPath = join(workdir, `${name}.report.json`);
  writeFileSync(configPath, JSON.stringify(config));
  const child = spawn(
    process.execPath,
    ["node_modules/artillery/bin/run", "run", "--quiet", "--output", reportPath, configPath],
    {
      env: { ...process.env, ...env, ARTILLERY_DISABLE_TELEMETRY: "true", WORKERS: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  // CPU use of the generator, one sample a second; the median leaves out its start-up burst.
  const samples = [];
  let lastCpu = 0;
  let lastAt = Date.now();
  const sampler = setInterval(() => {
    const now = Date.now();
    const cpu = cpuSeconds(child.pid);
    samples.push((cpu - lastCpu) / ((now - lastAt) / 1000));
    lastCpu = cpu;
    lastAt = now;
  }, 1000);
  let ended;
  try {
    // 'error' (it could not be spawned) comes instead of 'exit': without a listener it would crash.
    ended = await new Promise((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
      child.once("error", (error) => resolve({ error }));
    });
  } finally {
    clearInterval(sampler);
  }
  if (ended.error)
    throw new Error(`artillery (${name}) could not start: ${ended.error.message}`, { cause: ended.error });
  if (ended.code !== 0)
    throw new Error(`artillery (${name}) exited ${ended.signal ?? ended.code}: ${stderr.slice(-2000)}`);
  const sorted = samples.sort((a, b) => a - b);
  const medianCpu = sorted[Math.floor(sorted.length / 2)] ?? 0;
  let report;
  try {
    report = JSON.parse(readFileSync(reportPath, "utf8"));
  } catch (error) {
    throw new Error(`artillery (${name}) left no readable report at ${reportPath}: ${error.message}`, {
      cause: error,
    });
  }
  return summarize(report, { rate, seconds, medianCpu });
}

function summarize(report, { rate, seconds, medianCpu }) {
  const counters = report.aggregate.counters ?? {};
  const latency = report.aggregate.summaries?.["http.response_time"] ?? {};
  const codes = {};
  let errors = 0;
  for (const [name, value] of Object.entries(counters)) {
    const code = /^http\.codes\.(\d+)$/.exec(name)?.[1];
    if (code) codes[code] = value;
    if (name.startsWith("errors.")) errors += value;
  }
  const requests = counters["http.requests"] ?? 0;
  const created = counters["vusers.created"] ?? 0;
  const count = (predicate) =>
    Object.entries(codes).reduce((n, [code, v]) => n + (predicate(Number(code)) ? v : 0), 0);
  const mix = {
    ok: count((c) => c >= 200 && c < 400),
    soldOut: counters["loadtest.sold_out"] ?? 0,
    rateLimited: codes["429"] ?? 0,
    clientErrors: count((c) => c >= 400 && c < 500 && c !== 429) - (counters["loadtest.sold_out"] ?? 0),
    serverErrors: count((c) => c >= 500),
    networkErrors: errors,
  };
  const failed = mix.serverErrors + mix.networkErrors + Math.max(0, mix.clientErrors);
  return {
    offered: rate,
    usersCreated: created,
    requests,
    achievedRps: Math.round(requests / seconds),
    p50Ms: latency.median ?? latency.p50 ?? null,
    p95Ms: latency.p95 ?? null,
    p99Ms: latency.p99 ?? null,
    mix,
    errorRate: requests ? failed / requests : 0,
    generatorCpu: Math.round(medianCpu * 100) / 100,
    // Artillery keeps its arrival timers exact by spinning, so it sits near one core at any rate
    // past ~100/s: CPU is reported, but what shows it falling behind is starting fewer users than offered.
    generatorSaturated: created < rate * seconds * 0.95,
  };
}
