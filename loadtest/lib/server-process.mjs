// Stampede on the harness in a child process group, for tests that kill the runtime outright.
// Every way the child can go (it fails to spawn, fails to start, exits on its own mid-run, is
// already gone when killed) ends in a rejected promise or a recorded exit with its reason: never an
// unhandled 'error' event, never a kill that throws or waits for an exit that already happened.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** How long a server may take to say it is ready before it is killed and the start reported failed. */
const READY_TIMEOUT_MS = Number(process.env.LOADTEST_READY_TIMEOUT_MS ?? 120_000);

export function spawnServer({ script, port = 0, persistTo, bindings, migrations = true }) {
  const child = spawn(
    process.execPath,
    [
      "loadtest/lib/serve.mjs",
      "--script",
      script,
      "--port",
      String(port),
      "--persist",
      persistTo,
      "--bindings",
      JSON.stringify(bindings),
      ...(migrations ? [] : ["--no-migrations"]),
    ],
    { detached: true, stdio: ["ignore", "pipe", "inherit"] },
  );
  let killing = false;
  function killGroup() {
    if (ended || child.pid === undefined) return;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch (error) {
      // ESRCH: the group is already gone; its exit event is on the way.
      if (error.code !== "ESRCH") throw error;
    }
  }
  let failure = null;
  /** How the child ended, once it has: `{ code, signal, expected }`. */
  let ended = null;
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      ended = { code, signal, expected: killing };
      resolve(ended);
    });
    child.once("error", (error) => {
      // Spawning failed (EAGAIN, ENOMEM on a busy box): there will be no exit event.
      failure ??= `could not start the server process: ${error.message}`;
      if (!ended) {
        ended = { code: null, signal: null, expected: killing, error };
        resolve(ended);
      }
    });
  });
  const ready = new Promise((resolve, reject) => {
    // A start that hangs is a failure with a reason too, not a run that never ends.
    const timer = setTimeout(() => {
      failure ??= `not ready after ${READY_TIMEOUT_MS / 1000} s, so killed`;
      killGroup();
    }, READY_TIMEOUT_MS);
    timer.unref();
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      try {
        const message = JSON.parse(line);
        if (message.url) {
          clearTimeout(timer);
          resolve(message.url);
        }
        if (message.error) failure = message.error;
      } catch {
        // not the ready line
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `the server process ended (${signal ?? `exit code ${code}`}) before it was ready` +
            (failure ? `: ${failure}` : ""),
        ),
      );
    });
  });
  // A caller that stops waiting (its own failure) must not leave this rejection unhandled.
  ready.catch(() => {});
  return {
    ready,
    /** The child's process id (the group's, too), undefined if it could not be spawned. */
    pid: child.pid,
    /** Resolves when the child ends, whoever ended it: `{ code, signal, expected }`. */
    exited,
    /** Why the child ended when no one killed it, or null while it runs (or was killed). */
    unexpectedExit() {
      if (!ended || ended.expected) return null;
      return failure ?? `the server process exited on its own (${ended.signal ?? `exit code ${ended.code}`})`;
    },
    /** SIGKILL to the whole group: Node and workerd die at once, mid-request, as in a crash. */
    kill() {
      killing = true;
      killGroup();
      return exited;
    },
  };
}
