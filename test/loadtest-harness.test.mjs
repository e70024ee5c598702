// The load-test harness never ends on an uncaught error: a port taken between choosing and binding,
// a refused or reset connection, a server process that exits, each ends in a reported failure (what
// failed, why, the cause's code) or, for the load's own requests, in a counted error of that request.
// `node --test test/loadtest-harness.test.mjs` (part of `npm run test:scripts`).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { adminClient } from "../loadtest/lib/api.mjs";
import { runPhase } from "../loadtest/lib/artillery.mjs";
import { drive } from "../loadtest/lib/drive.mjs";
import { describeError, errorCodes } from "../loadtest/lib/failure.mjs";
import { bundle } from "../loadtest/lib/harness.mjs";
import { spawnServer } from "../loadtest/lib/server-process.mjs";

const SQUAT = "test/loadtest-faults/squat-ports.mjs";
const workdir = mkdtempSync(join(tmpdir(), "stampede-harness-test-"));
const reports = [];
after(() => {
  rmSync(workdir, { recursive: true, force: true });
  for (const path of reports) rmSync(path, { force: true });
});

/** Runs a node command to its end; answers its exit code and everything it printed. */
function node(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env } });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      out += chunk;
    });
    child.on("close", (status) => resolve({ status, out }));
  });
}

/** A port on which nothing listens (closed again at once). */
function closedPort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A server that resets every connection it accepts. */
function resetting() {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.resetAndDestroy()).listen(0, "127.0.0.1", () =>
      resolve(server),
    );
  });
}

/** The run's report, as `load test FAILED ... report: <html> (data: <json>)` names it. */
function reportOf(out) {
  const json = /\(data: (\S+\.json)\)/.exec(out)?.[1];
  assert.ok(json, `no report named in:\n${out}`);
  reports.push(json, json.replace(/\.json$/, ".html"));
  return JSON.parse(readFileSync(json, "utf8"));
}

function assertNoCrash(out) {
  assert.doesNotMatch(out, /^Node\.js v\d+/m, `the run crashed:\n${out}`);
  assert.doesNotMatch(out, /cause: undefined/, `the run crashed:\n${out}`);
}

describe("load-test harness failures are reported, never uncaught", { timeout: 180_000 }, () => {
  it("a port taken between choosing and binding: workerd binds port 0, a named port is retried and then reported", async () => {
    // In a process of its own, with the squatter preloaded: every port a server there lets go of
    // is taken at once. Before the fix, `npm run loadtest:smoke` with this preload died in 5 s on
    // an uncaught `MiniflareCoreError [ERR_ADDRESS_IN_USE]` (`cause: undefined`, no report).
    const script = `
      import { freePort, startBare } from "./loadtest/lib/harness.mjs";
      const chosen = await freePort();
      const lost = await startBare({ port: chosen }).then(
        (server) => server.stop().then(() => "bound"),
        (error) => error,
      );
      console.log("CHOSEN", lost === "bound" ? "bound" : lost.message.split("\\n")[0]);
      const server = await startBare();
      const answer = await (await fetch(server.url)).text();
      await server.stop();
      console.log("PORT0", answer);
    `;
    const { status, out } = await node(["--import", `./${SQUAT}`, "--input-type=module", "-e", script], {
      SQUAT_PORTS: "3",
      LOADTEST_PORT_WAIT_MS: "1500",
    });
    assertNoCrash(out);
    assert.equal(status, 0, out);
    // The fault bites: a port chosen, let go of and then asked for is lost, and that is told.
    assert.match(out, /\[squat\] took 127\.0\.0\.1:\d+/);
    assert.match(
      out,
      /CHOSEN bare: port 127\.0\.0\.1:\d+ stayed in use \(\d+ attempts\): Address already in use/,
    );
    // Port 0 has no window to lose.
    assert.match(out, /PORT0 ok/);
  });

  it("a refused connection ends the run with its reason, exit 4 and a report", async () => {
    const port = await closedPort();
    const { status, out } = await node(["loadtest/run.mjs", "smoke", "--target", `http://127.0.0.1:${port}`]);
    assertNoCrash(out);
    assert.equal(status, 4, out);
    assert.match(
      out,
      /load test FAILED while setting up the smoke scenario: GET \/v1\/products\?limit=100 failed \(4 attempts\): fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+ \[ECONNREFUSED\]/,
    );
    const report = reportOf(out);
    assert.equal(report.failure.stage, "setting up the smoke scenario");
    assert.deepEqual(report.failure.codes, ["ECONNREFUSED"]);
    assert.equal(report.audit, null);
  });

  it("a reset connection ends the run with its reason, exit 4 and a report", async () => {
    const server = await resetting();
    try {
      const { status, out } = await node([
        "loadtest/run.mjs",
        "smoke",
        "--target",
        `http://127.0.0.1:${server.address().port}`,
      ]);
      assertNoCrash(out);
      assert.equal(status, 4, out);
      assert.match(out, /load test FAILED while setting up the smoke scenario: .*\[ECONNRESET\]/);
      assert.deepEqual(reportOf(out).failure.codes, ["ECONNRESET"]);
    } finally {
      server.close();
    }
  });

  it("an unhandled rejection mid-run is reported with the stage, the runtime stopped, exit 4", async () => {
    const { status, out } = await node([
      "--import",
      "./test/loadtest-faults/late-rejection.mjs",
      "loadtest/run.mjs",
      "smoke",
    ]);
    assertNoCrash(out);
    assert.equal(status, 4, out);
    assert.match(
      out,
      /load test FAILED while measuring the bare-worker ceiling \(an unhandled rejection\): injected: socket hang up \[ECONNRESET\]/,
    );
    assert.deepEqual(reportOf(out).failure.codes, ["ECONNRESET"]);
  });

  it("undici's `fetch failed` is told with its cause", async () => {
    const port = await closedPort();
    const error = await fetch(`http://127.0.0.1:${port}/`).catch((e) => e);
    assert.equal(error.message, "fetch failed");
    assert.deepEqual(errorCodes(error), ["ECONNREFUSED"]);
    assert.match(
      describeError(error),
      /^fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+ \[ECONNREFUSED\]$/,
    );
  });

  it("refused connections during the load are errors of those requests, not a crash", async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const driven = await drive({ url, connections: 2, seconds: 1 });
    assert.ok(driven.errors > 0, JSON.stringify(driven));
    const step = await runPhase({
      target: url,
      flow: [{ get: { url: "/v1/products" } }],
      rate: 5,
      seconds: 1,
      workdir,
      name: "refused",
    });
    assert.equal(step.mix.ok, 0);
    assert.ok(step.mix.networkErrors > 0, JSON.stringify(step));
    assert.ok(step.errorRate > 0, JSON.stringify(step));
  });

  it("a server process that hangs before it is ready is killed and told, not waited for", async () => {
    const script = `
      import { spawnServer } from "./loadtest/lib/server-process.mjs";
      const server = spawnServer({ script: "loadtest/lib/bindings-worker.mjs", persistTo: ${JSON.stringify(join(workdir, "slow"))}, bindings: {} });
      await server.ready.then(() => console.log("READY"), (error) => console.log("REJECTED", error.message));
      console.log("UNEXPECTED", server.unexpectedExit());
    `;
    const { status, out } = await node(["--input-type=module", "-e", script], {
      LOADTEST_READY_TIMEOUT_MS: "300",
    });
    assertNoCrash(out);
    assert.equal(status, 0, out);
    assert.match(
      out,
      /REJECTED the server process ended \(SIGKILL\) before it was ready: not ready after 0\.3 s, so killed/,
    );
    assert.match(out, /UNEXPECTED not ready after 0\.3 s, so killed/);
  });

  it("a server process that cannot start, or exits mid-run, is told with its reason", async () => {
    const broken = spawnServer({
      script: join(workdir, "no-such-bundle.js"),
      persistTo: join(workdir, "broken"),
      bindings: {},
    });
    await assert.rejects(broken.ready, /the server process ended \(exit code 1\) before it was ready: .+/);
    await broken.kill(); // already gone: resolves, does not throw ESRCH or wait forever

    const server = spawnServer({
      script: bundle("src/index.ts", "stampede"),
      persistTo: join(workdir, "state"),
      bindings: { ADMIN_TOKEN: "t" },
    });
    const url = await server.ready;
    assert.equal(server.unexpectedExit(), null);
    process.kill(-server.pid, "SIGKILL"); // not through kill(): as if it died on its own
    await server.exited;
    assert.match(server.unexpectedExit(), /the server process exited on its own \(SIGKILL\)/);
    const api = adminClient(url, "t");
    await assert.rejects(
      api.call("GET", "/v1/admin/orders?limit=1"),
      /GET \/v1\/admin\/orders\?limit=1 failed \(4 attempts\): fetch failed: connect ECONNREFUSED/,
    );
    await server.kill();
    assert.ok(!existsSync(join(workdir, "no-such-bundle.js")));
  });
});
