// The chaos scenario's fault schedule: one seed, one schedule (which faults, when, for how long),
// every family of fault in it, faults one after another inside the window. Pure and fast:
// `node --test test/nemesis.test.mjs` (part of `npm run test:scripts`).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { FAULT_FAMILIES, nemesisSchedule, prng } from "../loadtest/lib/nemesis.mjs";

const WINDOW = { count: 6, startSeconds: 5, endSeconds: 72 };

describe("the nemesis schedule", () => {
  it("is the same for the same seed, in this process and in another", () => {
    const first = nemesisSchedule({ seed: 12345, ...WINDOW });
    assert.deepEqual(nemesisSchedule({ seed: 12345, ...WINDOW }), first);
    // Another process (as a replay is) draws the very same faults.
    const script = `import { nemesisSchedule } from "./loadtest/lib/nemesis.mjs";
      console.log(JSON.stringify(nemesisSchedule({ seed: 12345, ...${JSON.stringify(WINDOW)} })));`;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), first);
  });

  it("differs between seeds", () => {
    const schedules = new Set(
      Array.from({ length: 20 }, (_, seed) => JSON.stringify(nemesisSchedule({ seed, ...WINDOW }))),
    );
    assert.equal(schedules.size, 20);
  });

  it("has every family of fault, one after another, inside the window", () => {
    const families = Object.entries(FAULT_FAMILIES);
    for (let seed = 0; seed < 200; seed++) {
      const schedule = nemesisSchedule({ seed, ...WINDOW });
      assert.equal(schedule.length, WINDOW.count);
      for (const [family, kinds] of families) {
        assert.ok(
          schedule.some((fault) => kinds.includes(fault.kind)),
          `seed ${seed} has no ${family} fault: ${JSON.stringify(schedule)}`,
        );
      }
      let freeFrom = WINDOW.startSeconds;
      for (const fault of schedule) {
        assert.ok(fault.atSeconds >= freeFrom, `seed ${seed}: ${fault.kind} overlaps the fault before it`);
        assert.ok(fault.forSeconds >= 0);
        freeFrom = fault.atSeconds + fault.forSeconds;
        assert.ok(freeFrom <= WINDOW.endSeconds, `seed ${seed}: ${fault.kind} ends past the window`);
        if (fault.kind === "kill") assert.equal(fault.forSeconds, 0);
        if (fault.kind === "gateway-timeout") assert.ok(fault.delayMs >= 500 && fault.delayMs <= 2000);
        if (fault.kind === "queue-delay") assert.ok(fault.delaySeconds >= 2 && fault.delaySeconds <= 8);
      }
    }
  });

  it("refuses a seed that is not a whole number", () => {
    assert.throws(() => nemesisSchedule({ seed: 1.5, ...WINDOW }), /whole number/);
    assert.throws(() => nemesisSchedule({ seed: -1, ...WINDOW }), /whole number/);
  });

  it("draws from a generator that is fixed by its seed and spread over [0, 1)", () => {
    const a = prng(7);
    const b = prng(7);
    const draws = Array.from({ length: 10_000 }, () => a());
    assert.deepEqual(
      draws.slice(0, 5),
      Array.from({ length: 5 }, () => b()),
    );
    assert.ok(draws.every((x) => x >= 0 && x < 1));
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
    assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  });
});
