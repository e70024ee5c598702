// The audit for people: one row per property the run checked (what was checked, what was found,
// whether it holds), the failures first to the eye, and the per-SKU books folded away below.
import { drawChecks } from "./draw-checks.mjs";
import { READMIT_WITHIN_SECONDS } from "./drop-restock.mjs";

const escapeHtml = (text) => String(text).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** `[what was checked, what was found, holds]` rows of a run's audit (and its drop's and restock's). */
export function auditChecks(audit) {
  const skus = Object.entries(audit.conservation ?? {});
  const unbalanced = skus.filter(([, entry]) => !entry.ok);
  const rows = [
    ["No unit sold beyond stock (oversold units)", audit.oversold, audit.oversold === 0],
    ["Every accepted order reached an end state (lost orders)", audit.lost, audit.lost === 0],
    [
      "No order charged twice, no charge on an unpaid order",
      audit.double_charged,
      audit.double_charged === 0,
    ],
    [
      "Refunds at the gateway match the orders' refunds",
      audit.refunds_mismatched ?? 0,
      (audit.refunds_mismatched ?? 0) === 0,
    ],
    ["No order left pending payment (stuck)", audit.stuck, audit.stuck === 0],
    ["No stock left held for anyone (leaked holds)", audit.leaked_holds, audit.leaked_holds === 0],
    [
      "Stock conserved in every watched SKU's books",
      unbalanced.length === 0
        ? `${skus.length} of ${skus.length} SKUs balance`
        : `${unbalanced.length} of ${skus.length} SKUs do not: ${unbalanced
            .slice(0, 5)
            .map(([sku, entry]) => `${sku} (${entry.problems.join("; ")})`)
            .join(", ")}${unbalanced.length > 5 ? ", …" : ""}`,
      audit.conserved,
    ],
  ];
  const drop = audit.drop;
  if (drop) {
    const fairness = drop.fairness.boughtByArrivalDecile;
    rows.push(
      [
        "Drop: no customer bought past the per-customer limit",
        drop.customersOverLimit,
        drop.customersOverLimit === 0,
      ],
      [
        "Drop: admitted people either bought or were told sold out",
        drop.admittedNeitherBoughtNorToldSoldOut,
        drop.admittedNeitherBoughtNorToldSoldOut === 0,
      ],
      ["Drop: no one left waiting at the end", drop.leftWaiting, drop.leftWaiting === 0],
      ["Drop: no unexpected answer", drop.unexpectedOutcomes, drop.unexpectedOutcomes === 0],
      ["Drop: no 5xx or network error", drop.serverErrors, drop.serverErrors === 0],
      [
        "Drop: buying does not depend on arrival order (chi-square, p ≥ 0.001)",
        `p = ${fairness.pValue} (chi² ${fairness.chiSquare}, ${fairness.dof} dof)`,
        fairness.pValue >= 0.001,
      ],
    );
  }
  const restock = audit.restock;
  if (restock) {
    rows.push(
      [
        "Restock: admissions never outran the units left",
        restock.cap.violations,
        restock.cap.violations === 0,
      ],
      [
        `Restock: waiting people readmitted within ${READMIT_WITHIN_SECONDS} s`,
        restock.readmitSeconds === null ? "never" : `${restock.readmitSeconds} s`,
        restock.readmitSeconds !== null && restock.readmitSeconds <= READMIT_WITHIN_SECONDS,
      ],
      [
        "Restock: no more bought than stocked",
        `${restock.unitsBought} of ${restock.unitsStocked}`,
        restock.unitsBought <= restock.unitsStocked,
      ],
      ["Restock: no unexpected answer", restock.unexpectedOutcomes, restock.unexpectedOutcomes === 0],
      ["Restock: no 5xx or network error", restock.serverErrors, restock.serverErrors === 0],
    );
  }
  if (audit.draw) rows.push(...drawChecks(audit.draw));
  return rows;
}

function skuTable(conservation) {
  const entries = Object.entries(conservation ?? {}).sort(([, a], [, b]) => Number(a.ok) - Number(b.ok));
  const rows = entries
    .map(
      ([sku, e]) =>
        `<tr${e.ok ? "" : ' class="bad"'}><td>${escapeHtml(sku)}</td><td>${e.ok ? "yes" : "no"}</td><td>${e.initial}</td><td>${e.onHand}</td><td>${e.committed}</td><td>${e.reserved}</td><td>${e.sold}</td><td>${e.paidUnits}</td><td class="text">${escapeHtml(e.problems.join("; "))}</td></tr>`,
    )
    .join("");
  return `<table><tr><th>SKU</th><th>balanced</th><th>on hand before</th><th>on hand</th><th>committed</th><th>held</th><th>sold in the run</th><th>paid in the run</th><th>problems</th></tr>${rows}</table>`;
}

/** The audit section of the HTML report. */
export function auditSection(audit) {
  const checks = auditChecks(audit);
  const failed = checks.filter(([, , holds]) => !holds).length;
  const rows = checks
    .map(
      ([what, found, holds]) =>
        `<tr${holds ? "" : ' class="bad"'}><td class="text">${escapeHtml(what)}</td><td class="text">${escapeHtml(found)}</td><td>${holds ? "pass" : "FAIL"}</td></tr>`,
    )
    .join("");
  const skus = Object.keys(audit.conservation ?? {}).length;
  const { conservation, drop, restock, draw, ...totals } = audit;
  return `<h2>Audit: ${audit.passed ? "passed" : `FAILED (${failed} of ${checks.length} checks)`}</h2>
<p>${audit.accepted} orders accepted during the run, ${audit.orders} orders in the shop, ${audit.paid} paid.</p>
<table><tr><th>checked</th><th>found</th><th>result</th></tr>${rows}</table>
<details><summary>Each watched SKU's books (${skus} SKUs)</summary>${skuTable(conservation)}</details>
<details><summary>The audit as data</summary><pre>${escapeHtml(JSON.stringify({ ...totals, drop, restock, draw }, null, 2))}</pre></details>`;
}
