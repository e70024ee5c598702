#!/usr/bin/env node
// Serves Stampede on the harness as a process of its own, so a test can kill it outright
// (SIGKILL to its process group takes workerd down with it) and start it again on the same state.
// Prints one JSON line `{"url": ...}` when it is ready, then serves until killed; when it cannot
// start, one line `{"error": ...}` with the reason, and exits 1.
import { parseArgs } from "node:util";
import { describeError } from "./failure.mjs";
import { startStampede } from "./harness.mjs";

const { values } = parseArgs({
  options: {
    script: { type: "string" },
    port: { type: "string", default: "0" },
    persist: { type: "string" },
    bindings: { type: "string", default: "{}" },
    "no-migrations": { type: "boolean", default: false },
  },
});
try {
  const server = await startStampede({
    scriptPath: values.script,
    port: Number(values.port),
    persistTo: values.persist,
    bindings: JSON.parse(values.bindings),
    migrations: !values["no-migrations"],
  });
  console.log(JSON.stringify({ url: server.url }));
} catch (error) {
  console.log(JSON.stringify({ error: describeError(error) }));
  process.exit(1);
}
