// Stampede on the harness in a child process group, for tests that kill the runtime outright.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export function spawnServer({ script, port, persistTo, bindings }) {
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
    ],
    { detached: true, stdio: ["ignore", "pipe", "inherit"] },
  );
  const ready = new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      try {
        const { url } = JSON.parse(line);
        if (url) resolve(url);
      } catch {
        // not the ready line
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code} before it was ready`)));
  });
  return {
    ready,
    /** SIGKILL to the whole group: Node and workerd die at once, mid-request, as in a crash. */
    kill() {
      process.kill(-child.pid, "SIGKILL");
      return new Promise((resolve) => child.once("exit", resolve));
    },
  };
}
