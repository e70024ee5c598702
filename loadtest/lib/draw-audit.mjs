// The draw's audit, once it is drawn and its sweep has released the losers' holds: each entrant got
// the answer its role calls for, the frozen list is exactly the accepted entries, the winners are
// what the units allow, each captured once at the gateway and each with a paid order, every other
// hold released, the stock conserved, the published proof and a receipt verify with the public
// verifier, and winning does not depend on when one entered.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drawChecks } from "./draw-checks.mjs";
import { chiSquareIndependence } from "./stats.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function countBy(list, keyOf) {
  const counts = {};
  for (const item of list) counts[keyOf(item)] = (counts[keyOf(item)] ?? 0) + 1;
  return counts;
}

/** The draw under test's holds: its entries' keys, its entrants' cards (not the calibration's). */
export const isOurs = (hold) =>
  hold.idempotencyKey.startsWith("draw-entry-") && hold.token.includes(".card_p");

/** Every hold the simulator keeps (or only those in `status`), a page at a time. */
export async function simulatorHolds(api, status) {
  const holds = [];
  for (let after = null; ; ) {
    const query = new URLSearchParams({
      limit: "1000",
      ...(after ? { after } : {}),
      ...(status ? { status } : {}),
    });
    const page = await api.call("GET", `/v1/admin/simulator/authorizations?${query}`);
    holds.push(...page.authorizations);
    if (!page.nextCursor) return holds;
    after = page.nextCursor;
  }
}

/**
 * Waits until none of the draw's holds is still live (the sweep cancels the losers'), reading only
 * the live ones as it waits; answers every hold of the draw as it ends and how many stayed live.
 */
async function awaitHoldsReleased({ api, deadlineMs, log }) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const live = [
      ...(await simulatorHolds(api, "authorized")),
      ...(await simulatorHolds(api, "requires_action")),
    ].filter(isOurs).length;
    if (live === 0 || Date.now() > deadline) {
      return { releasedAt: Date.now(), holds: (await simulatorHolds(api)).filter(isOurs), live };
    }
    log(`sweep: ${live} of the draw's holds still live`);
    await sleep(2000);
  }
}

/** The frozen list, every page. */
async function frozenList(api, productId) {
  const entries = [];
  for (let cursor = null; ; ) {
    const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
    const page = await api.call("GET", `/v1/drops/${productId}/draw/entries${query}`);
    entries.push(...page.entries);
    if (!page.nextCursor) return entries;
    cursor = page.nextCursor;
  }
}

/**
 * How the entries spread over the draw's entry books (an entry's id ends in its book's number): the
 * books' count, the fewest and most entries one holds, and the most over the mean. Entries go to the
 * book the customer's key hashes to, so no book should hold much more than its share.
 */
function bookSpread(entries) {
  const counts = countBy(entries, (entry) => entry.entryId.split("-").at(-1));
  const values = Object.values(counts);
  const mean = entries.length / Math.max(1, values.length);
  return {
    books: values.length,
    fewest: Math.min(...values),
    most: Math.max(...values),
    mostOverMean: Number((Math.max(...values) / Math.max(1, mean)).toFixed(2)),
  };
}

/** `node scripts/verify-draw.mjs …`: its exit code and the lines it printed. */
function verifier(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["scripts/verify-draw.mjs", ...args], { stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      out += chunk;
    });
    child.on("close", (code) => resolve({ code, out }));
  });
}

async function get(target, path, token) {
  const response = await fetch(target + path, { headers: { Authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** An entrant not sent before the close, or whose entry reached the draw after it. */
export const missedTheClose = (answer) => answer.status === -1 || answer.code === "draw_closed";

/** What each entrant's answers should have been; answers the surprises, by kind. */
function checkAnswers(records) {
  const surprises = {};
  const surprise = (label) => {
    surprises[label] = (surprises[label] ?? 0) + 1;
  };
  const label = (answer) => `${answer.status} ${answer.code ?? ""}`.trim();
  const byCard = new Map();
  for (const record of records) {
    const { first, second } = record;
    if (missedTheClose(first)) continue; // counted apart: the run is invalid, not the draw wrong
    if (record.role === "declined") {
      if (first.status !== 402 || first.code !== "payment_declined") surprise(`declined: ${label(first)}`);
      continue;
    }
    // A card two entrants share: one of them is in, the other refused for the card.
    const cardAnswer = first.status === 201 || (first.status === 409 && first.code === "draw_card_used");
    if (!cardAnswer) surprise(`${record.role}: ${label(first)}`);
    byCard.set(record.card, [...(byCard.get(record.card) ?? []), first]);
    if (record.role === "twice" && first.status === 201) {
      if (second?.status !== 409 || second.code !== "draw_already_entered")
        surprise(`twice, second try: ${second ? label(second) : "not sent"}`);
    }
  }
  for (const answers of byCard.values()) {
    const entered = answers.filter((answer) => answer.status === 201).length;
    if (entered !== 1) surprise(`a card entered ${entered} times`);
  }
  return surprises;
}

/** Per size, the winners are the units, or fewer only when every entry that could win won. */
function allocationProblems(draw, accepted, winners, passedOn) {
  const problems = [];
  for (const [sku, units] of Object.entries(draw.units)) {
    const won = accepted.filter((r) => r.sku === sku && winners.has(r.first.entryId));
    if (won.length > units) problems.push(`${sku}: ${won.length} winners for ${units} units`);
    if (won.length < units) {
      const couldWin = accepted.filter(
        (r) => r.sku === sku && !winners.has(r.first.entryId) && !passedOn.has(r.first.entryId),
      );
      if (couldWin.length > 0)
        problems.push(`${sku}: ${units - won.length} units left while ${couldWin.length} entries lost`);
    }
  }
  return problems;
}

/** Winners by decile of acceptance time, among entries that could win (not the failing captures). */
function fairnessByEntryTime(accepted, winners) {
  const eligible = accepted.filter((r) => r.role !== "capture_fails").sort((a, b) => a.first.at - b.first.at);
  const deciles = Array.from({ length: 10 }, (_, d) => {
    const group = eligible.slice(
      Math.floor((d * eligible.length) / 10),
      Math.floor(((d + 1) * eligible.length) / 10),
    );
    const hits = group.filter((r) => winners.has(r.first.entryId)).length;
    return { decile: d + 1, entries: group.length, won: hits, n: group.length, hits };
  });
  const test = chiSquareIndependence(deciles);
  return {
    deciles: deciles.map(({ n, hits, ...rest }) => rest),
    chiSquare: Number(test.statistic.toFixed(3)),
    dof: test.dof,
    pValue: Number(test.pValue.toFixed(4)),
  };
}

/** Each winner's entry as its entrant reads it: its state and its order's link (id and token). */
async function winnerOrders({ target, draw, run, record }) {
  const byId = new Map(run.records.map((r) => [r.first.entryId, r]));
  const links = new Map();
  for (const id of record.winners ?? []) {
    const entrant = byId.get(id);
    if (!entrant) continue;
    const entry = await get(target, `/v1/drops/${draw.productId}/draw/entry`, entrant.first.entryToken);
    links.set(id, { state: entry.body?.state, sku: entrant.sku, link: entry.body?.order ?? null });
  }
  return links;
}

export async function auditDraw({
  api,
  target,
  draw,
  run,
  record,
  holds,
  liveHolds,
  stockBefore,
  winnerLinks,
  kills = null,
}) {
  const accepted = run.records.filter((r) => r.first.status === 201);
  const acceptedIds = new Set(accepted.map((r) => r.first.entryId));
  const winners = new Set(record.winners ?? []);
  const passedOn = new Set(record.passedOn ?? []);
  const roleOf = new Map(accepted.map((r) => [r.first.entryId, r.role]));

  const surprises = checkAnswers(run.records);
  const late = run.records.filter((r) => missedTheClose(r.first)).length;
  const people = new Map();
  for (const r of run.records) {
    const ins = [r.first, r.second].filter((answer) => answer?.status === 201).length;
    people.set(r.id, ins);
  }
  const personTwice = [...people.values()].filter((ins) => ins > 1).length;

  const frozen = await frozenList(api, draw.productId);
  const frozenIds = new Set(frozen.map((entry) => entry.entryId));
  const books = bookSpread(frozen);
  const listMismatch =
    frozenIds.size !== acceptedIds.size || [...acceptedIds].some((id) => !frozenIds.has(id));

  const notAccepted = [...winners, ...passedOn].filter((id) => !acceptedIds.has(id)).length;
  const wrongWinners = [...winners].filter((id) => roleOf.get(id) === "capture_fails").length;
  const wrongPassedOn = [...passedOn].filter((id) => roleOf.get(id) !== "capture_fails").length;
  const allocation = allocationProblems(draw, accepted, winners, passedOn);

  const captured = holds.filter((hold) => hold.status === "captured");
  const capturedOwners = new Map();
  for (const hold of captured) capturedOwners.set(hold.ownerId, (capturedOwners.get(hold.ownerId) ?? 0) + 1);
  const charges = (await api.charges()).filter((charge) => charge.idempotencyKey.startsWith("draw-entry-"));
  const chargesByKey = new Map();
  for (const charge of charges)
    chargesByKey.set(charge.idempotencyKey, (chargesByKey.get(charge.idempotencyKey) ?? 0) + 1);
  const gateway = {
    holds: holds.length,
    captured: captured.length,
    capturedTwice: holds.filter((hold) => hold.captures > 1).length,
    capturedNotWinner: captured.filter((hold) => !winners.has(hold.ownerId)).length,
    winnerNotCapturedOnce: [...winners].filter((id) => capturedOwners.get(id) !== 1).length,
    capturedWithoutOneCharge: captured.filter((hold) => chargesByKey.get(hold.idempotencyKey) !== 1).length,
    live: liveHolds,
    byStatus: countBy(holds, (hold) => hold.status),
  };

  const stock = {};
  for (const sku of draw.skus) {
    const now = await api.inventory(sku);
    const won = accepted.filter((r) => r.sku === sku && winners.has(r.first.entryId)).length;
    const start = stockBefore[sku];
    stock[sku] = {
      units: draw.units[sku],
      won,
      onHand: now.onHand,
      committed: now.committed,
      reserved: now.reserved,
      ok:
        now.committed - start.committed === won &&
        now.reserved === start.reserved &&
        now.onHand + now.committed === start.onHand + start.committed,
    };
  }

  let unpaid = 0;
  for (const won of winnerLinks.values()) {
    const order = won.link ? await get(target, `/v1/orders/${won.link.orderId}`, won.link.orderToken) : null;
    const bought = order?.body?.items?.some((item) => item.sku === won.sku);
    if (won.state !== "won" || order?.body?.status !== "paid" || !bought) unpaid++;
  }
  unpaid += [...winners].filter((id) => !winnerLinks.has(id)).length;

  const proof = await verifier([target, draw.productId, "--drand", "off"]);
  const sample = accepted[Math.floor(Math.random() * accepted.length)];
  const receipt = await get(
    target,
    `/v1/drops/${draw.productId}/draw/entry/receipt`,
    sample?.first.entryToken,
  );
  const receiptFile = join(mkdtempSync(join(tmpdir(), "stampede-draw-")), "receipt.json");
  writeFileSync(receiptFile, JSON.stringify(receipt.body));
  const receiptCheck = await verifier([target, draw.productId, "--drand", "off", "--receipt", receiptFile]);

  const status = await api.call("GET", `/v1/admin/products/${draw.productId}/draw`);
  const fairness = fairnessByEntryTime(accepted, winners);
  const result = {
    entrants: run.records.length,
    accepted: accepted.length,
    late,
    surprises,
    personEnteredTwice: personTwice,
    frozenCount: frozen.length,
    frozenListMatchesAccepted: !listMismatch,
    winners: winners.size,
    passedOn: passedOn.size,
    units: Object.values(draw.units).reduce((a, b) => a + b, 0),
    winnersOrPassedOnNotAccepted: notAccepted,
    failingCaptureWon: wrongWinners,
    passedOnNotFailingCapture: wrongPassedOn,
    allocation,
    gateway,
    stock,
    winnersWithoutPaidOrder: unpaid,
    status,
    verifier: { proof: proof.code, receipt: receiptCheck.code, receiptEntry: sample?.first.entryId ?? null },
    verifierOutput: proof.code === 0 && receiptCheck.code === 0 ? null : `${proof.out}\n${receiptCheck.out}`,
    fairness,
    books,
    ...(kills ? { kills } : {}),
  };
  result.passed = drawChecks(result).every(([, , holds]) => holds);
  return result;
}

export function drawAuditLine(result, timing) {
  const g = result.gateway;
  return (
    `draw audit: ${result.passed ? "PASSED" : "FAILED"} — ${result.entrants} entrants, ${result.accepted} entered ` +
    `(${timing.entriesPerSecond} entries/s), late ${result.late}, surprises ${JSON.stringify(result.surprises)}; ` +
    `list ${result.frozenCount} ${result.frozenListMatchesAccepted ? "= accepted" : "!= accepted"}; ` +
    `winners ${result.winners}/${result.units} units, passed on ${result.passedOn}${result.allocation.length ? ` ${result.allocation.join("; ")}` : ""}; ` +
    `holds ${g.holds}: captured ${g.captured} (twice ${g.capturedTwice}, not a winner ${g.capturedNotWinner}, without one charge ${g.capturedWithoutOneCharge}), live ${g.live}; ` +
    `stock ${Object.values(result.stock).every((s) => s.ok) ? "conserved" : "NOT conserved"}; unpaid winners ${result.winnersWithoutPaidOrder}; ` +
    `books ${result.books.fewest}-${result.books.most} entries (${result.books.mostOverMean} × the mean); ` +
    `verify-draw ${result.verifier.proof}, receipt ${result.verifier.receipt}; ` +
    `fairness chi2=${result.fairness.chiSquare} (dof ${result.fairness.dof}) p=${result.fairness.pValue}; ` +
    `close to drawn ${timing.closeToDrawnSeconds} s`
  );
}

/**
 * After the draw: waits for the sweep to release the losers' holds, reads each winner's order link,
 * and answers what the run's common audit needs (the winners' orders) and a step for the report.
 */
export async function settleDraw({ api, target, prepared, drawn, settings, log }) {
  const released = await awaitHoldsReleased({ api, deadlineMs: settings.sweepDeadlineSeconds * 1000, log });
  drawn.timing.closeToHoldsReleasedSeconds = Number(
    ((released.releasedAt - prepared.draw.closesAt) / 1000).toFixed(1),
  );
  log(
    `holds: ${released.live} live of ${released.holds.length}, ${drawn.timing.closeToHoldsReleasedSeconds} s after the close`,
  );
  const winnerLinks = await winnerOrders({
    target,
    draw: prepared.draw,
    run: drawn.run,
    record: drawn.record,
  });
  const { run } = drawn;
  const answered = run.records.filter((r) => r.first.status !== -1);
  const count = (test) => answered.filter((r) => test(r.first.status)).length;
  const step = {
    name: "entries",
    offered: run.records.length,
    achievedRps: Math.round(run.requestsPerSecond),
    p50Ms: run.p50Ms,
    p95Ms: run.p95Ms,
    p99Ms: run.p99Ms,
    mix: {
      ok: count((s) => s === 201),
      soldOut: count((s) => s === 409),
      rateLimited: count((s) => s === 429),
      clientErrors: count((s) => s >= 400 && s < 500 && s !== 409 && s !== 429),
      serverErrors: count((s) => s >= 500),
      networkErrors: count((s) => s === 0),
    },
    generatorSaturated: false,
  };
  step.errorRate = (step.mix.serverErrors + step.mix.networkErrors) / Math.max(1, step.offered);
  const orders = [...winnerLinks.values()].flatMap((won) => (won.link ? [won.link.orderId] : []));
  return { holds: released.holds, liveHolds: released.live, winnerLinks, step, orders };
}
