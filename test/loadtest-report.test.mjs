// The load-test report's words, checked without running a load: no knee claimed where there was no
// ramp, and the audit as a table of checks with the failures named.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { auditChecks, auditSection } from "../loadtest/lib/audit-table.mjs";
import { kneeSentence } from "../loadtest/lib/report.mjs";

const step = (offered, p99Ms, name = `${offered}/s`) => ({ name, offered, achievedRps: offered * 3, p99Ms });

function cleanAudit(skus = 3) {
  const conservation = {};
  for (let i = 0; i < skus; i++)
    conservation[`SKU-${i}`] = {
      ok: true,
      problems: [],
      onHand: 10,
      committed: 2,
      reserved: 0,
      sold: 2,
      paidUnits: 2,
      initial: 12,
    };
  return {
    oversold: 0,
    lost: 0,
    double_charged: 0,
    refunds_mismatched: 0,
    stuck: 0,
    leaked_holds: 0,
    conserved: true,
    accepted: 6,
    orders: 6,
    paid: 6,
    conservation,
    passed: true,
  };
}

describe("the load-test report", () => {
  it("claims no knee for fixed phases (the smoke), and says why", () => {
    const sentence = kneeSentence({
      ramp: false,
      steps: [step(20, 30, "warm"), step(80, 40, "rush")],
      kneeIndex: -1,
    });
    assert.match(sentence, /not measured/);
    assert.match(sentence, /warm, rush/);
    assert.match(sentence, /not a ramp/);
    assert.doesNotMatch(sentence, /none found|failed the criteria/);
  });

  it("names the knee of a ramp, as a lower bound when every step held", () => {
    const steps = [step(50, 20), step(100, 22), step(200, 90)];
    assert.match(kneeSentence({ ramp: true, steps, kneeIndex: 1 }), /Knee: <strong>100 users\/s<\/strong>/);
    assert.match(kneeSentence({ ramp: true, steps, kneeIndex: 2 }), /at least <strong>200 users\/s/);
    assert.match(
      kneeSentence({ ramp: true, steps, kneeIndex: -1 }),
      /none found, the first step already failed/,
    );
  });

  it("lists every check with its result, and names what failed", () => {
    const audit = cleanAudit(158);
    audit.oversold = 2;
    audit.conserved = false;
    audit.passed = false;
    audit.conservation["SKU-7"] = {
      ...audit.conservation["SKU-7"],
      ok: false,
      problems: ["available below zero"],
    };
    const checks = auditChecks(audit);
    assert.deepEqual(
      checks.filter(([, , holds]) => !holds).map(([what, found]) => [what, found]),
      [
        ["No unit sold beyond stock (oversold units)", 2],
        [
          "Stock conserved in every watched SKU's books",
          "1 of 158 SKUs do not: SKU-7 (available below zero)",
        ],
      ],
    );
    const html = auditSection(audit);
    assert.match(html, /Audit: FAILED \(2 of 7 checks\)/);
    // The per-SKU books are there, folded away, the unbalanced one first.
    const folded = html.slice(html.indexOf("<details>"));
    assert.match(
      folded,
      /<summary>Each watched SKU's books \(158 SKUs\)<\/summary><table>.*?<tr class="bad"><td>SKU-7</s,
    );
    assert.ok(html.indexOf("SKU-0") > html.indexOf("<details>"), "no SKU row outside the folded part");
  });

  it("says passed when every check holds", () => {
    const html = auditSection(cleanAudit());
    assert.match(html, /<h2>Audit: passed<\/h2>/);
    assert.doesNotMatch(html, /FAIL/);
  });
});
