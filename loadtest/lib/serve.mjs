#!/usr/bin/env node
// Serves Stampede on the harness as a process of its own, so a test can kill it outright
// (SIGKILL to its process group takes workerd down with it) and start it again on the same state.
// Prints one JSON line `{"url": ...}` when it is ready, then serves until killed.
import { parseArgs } from "node:util";
import { startStampede } from "./harness.mjs";

const { values } = parseArgs({
  options: {
    script: { type: "string" },
    port: { type: "string" },
    persist: { type: "string" },
    bindings: { type: "string", default: "{}" },
  },
});
const server = await startStampede({
  scriptPath: values.script,
  port: Number(values.port),
  persistTo: values.persist,
  bindings: JSON.parse(values.bindings),
});
console.log(JSON.stringify({ url: server.url }));
