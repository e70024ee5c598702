// CPU time of the workerd processes a harness started, read from /proc: what a run cost the machine,
// whatever else was running beside it. Linux only; elsewhere the figures are left out.
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100;

/** The workerd processes running now; with `parent`, only those that process started. */
export function workerdPids(parent) {
  try {
    return readdirSync("/proc").filter((entry) => {
      if (!/^\d+$/.test(entry)) return false;
      try {
        if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== "workerd") return false;
        if (parent === undefined) return true;
        const ppid = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ")[1];
        return Number(ppid) === parent;
      } catch {
        return false;
      }
    });
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) the processes have used so far; null where /proc cannot tell. */
export function cpuSeconds(pids) {
  if (pids.length === 0) return null;
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return null;
    }
  }
  return ticks / TICKS_PER_SECOND;
}
