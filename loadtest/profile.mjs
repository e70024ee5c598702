#!/usr/bin/env node
// `npm run profile -- <case>`: samples workerd's CPU through its inspector while one bench case runs,
// then prints where the time went (self time by function, and by source file) and writes the
// .cpuprofile (open it in Chrome DevTools or VS Code) under loadtest/reports/.
import { mkdirSync, writeFileSync } from "node:fs";
import WebSocket from "ws";
import { adminClient } from "./lib/api.mjs";
import { ADMIN_TOKEN, cases, learnSoldOut, setUp } from "./lib/bench-cases.mjs";
import { drive } from "./lib/drive.mjs";
import { errorCodes, reportUncaught } from "./lib/failure.mjs";
import { bundle, freePort, startStampede } from "./lib/harness.mjs";

const id = process.argv[2];
const chosen = cases.find((c) => c.id === id);
if (!chosen) {
  console.error(`usage: npm run profile -- <${cases.map((c) => c.id).join("|")}>`);
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
async function inspect(url) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  let next = 0;
  const pending = new Map();
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString());
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    message.error ? waiter.reject(new Error(message.error.message)) : waiter.resolve(message.result);
  });
  return {
    send(method, params = {}) {
      const messageId = ++next;
      socket.send(JSON.stringify({ id: messageId, method, params }));
      return new Promise((resolve, reject) => pending.set(messageId, { resolve, reject }));
    },
    close: () => socket.close(),
  };
}

function summarize(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map();
  const byFile = new Map();
  for (const [nodeId, micros] of self) {
    const { functionName, url, lineNumber } = byId.get(nodeId).callFrame;
    const file = url ? url.split("/").pop() : "(native)";
    const fn = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + micros);
    byFile.set(file, (byFile.get(file) ?? 0) + micros);
  }
  const top = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => ({ name, share: `${((micros / total) * 100).toFixed(1)}%` }));
  return { totalMs: Math.round(total / 1000), functions: top(byFunction, 30), files: top(byFile, 10) };
}

reportUncaught("profile");
// Readable names in the profile; the code is otherwise the deployed bundle.
const scriptPath = bundle("src/index.ts", "stampede-profile", { minify: false });
// The inspector's port must be known before it listens, so another process may take it first:
// then a new one is chosen (three tries).
let inspectorPort;
let stampede;
for (let attempt = 1; !stampede; attempt++) {
  inspectorPort = await freePort();
  stampede = await startStampede({
    bindings: { ADMIN_TOKEN, SOLD_OUT_TTL_SECONDS: "300" },
    inspectorPort,
    scriptPath,
  }).catch((error) => {
    const inUse = errorCodes(error).some((code) => code === "EADDRINUSE" || code === "ERR_ADDRESS_IN_USE");
    if (inUse && attempt < 3) return null;
    throw error;
  });
}
try {
  await setUp(adminClient(stampede.url, ADMIN_TOKEN));
  await learnSoldOut(stampede.url);
  const target = { url: stampede.url + (chosen.path ?? "/"), request: chosen.request, connections };
  await drive({ ...target, seconds: 2 });
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const worker = targets.find((t) => t.title.includes("stampede")) ?? targets[0];
  const cdp = await inspect(worker.webSocketDebuggerUrl);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  await cdp.send("Profiler.start");
  const run = await drive({ ...target, seconds });
  const { profile } = await cdp.send("Profiler.stop");
  cdp.close();
  mkdirSync("loadtest/reports", { recursive: true });
  const path = `loadtest/reports/${chosen.id}.cpuprofile`;
  writeFileSync(path, JSON.stringify(profile));
  const summary = summarize(profile);
  console.log(`${chosen.name}: ${run.rps} rps, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms`);
  console.log(
    `JS samples cover ${summary.totalMs} ms of ${seconds * 1000} ms (the rest is workerd's C++ and idle)`,
  );
  console.table(summary.functions);
  console.table(summary.files);
  console.log(`written: ${path}`);
} finally {
  await stampede.stop();
}
