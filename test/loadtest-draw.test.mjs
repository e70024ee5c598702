// The draw load test's own expectations, checked without running a load: the crowd it builds is the
// one it says (each alias one customer by the shop's own folding, each shared card owned by a plain
// entrant), and its audit fails, naming the check, when the draw broke a promise.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { auditChecks, auditSection } from "../loadtest/lib/audit-table.mjs";
import { entrantsOf } from "../loadtest/lib/draw.mjs";
import { drawChecks } from "../loadtest/lib/draw-checks.mjs";
import { customerKey } from "../src/shared/customer-key.ts";

const oneSize = { pick: () => "S-42" };

/** What a draw that kept every promise leaves for the audit. */
function cleanDraw() {
  return {
    entrants: 1000,
    accepted: 950,
    late: 0,
    surprises: {},
    personEnteredTwice: 0,
    frozenCount: 950,
    frozenListMatchesAccepted: true,
    winners: 300,
    passedOn: 4,
    units: 300,
    winnersOrPassedOnNotAccepted: 0,
    failingCaptureWon: 0,
    passedOnNotFailingCapture: 0,
    allocation: [],
    gateway: {
      holds: 980,
      captured: 300,
      capturedTwice: 0,
      capturedNotWinner: 0,
      winnerNotCapturedOnce: 0,
      capturedWithoutOneCharge: 0,
      live: 0,
      byStatus: { captured: 300, cancelled: 650, failed: 30 },
    },
    stock: { "S-42": { units: 300, won: 300, onHand: 20, committed: 300, reserved: 0, ok: true } },
    winnersWithoutPaidOrder: 0,
    status: { phase: "drawn", entries: 950, won: 300, passedOn: 4 },
    verifier: { proof: 0, receipt: 0, receiptEntry: "e-1" },
    fairness: { deciles: [], chiSquare: 8.1, dof: 9, pValue: 0.52 },
    books: { books: 16, fewest: 48, most: 71, mostOverMean: 1.2 },
  };
}

describe("the draw load test", () => {
  it("builds its crowd by role: of each hundred 10 second tries, 3 declines, 2 failing captures, 2 shared cards", () => {
    const entrants = entrantsOf(1000, oneSize);
    const count = (role) => entrants.filter((e) => e.role === role).length;
    assert.deepEqual(["twice", "declined", "capture_fails", "sharer"].map(count), [100, 30, 20, 20]);
    assert.ok(
      entrants.filter((e) => e.role === "declined").every((e) => e.token.startsWith("tok_declined.")),
    );
    assert.ok(
      entrants
        .filter((e) => e.role === "capture_fails")
        .every((e) => e.token.startsWith("tok_capture_fails.")),
    );
  });

  it("spells each second try as the same customer the shop folds it to, and every person apart", () => {
    const entrants = entrantsOf(3000, oneSize);
    assert.ok(entrants.every((e) => customerKey(e.alias) === customerKey(e.email) && e.alias !== e.email));
    assert.equal(new Set(entrants.map((e) => customerKey(e.email))).size, entrants.length);
  });

  it("shares each shared card with exactly one plain entrant, so which one is refused is the only race", () => {
    const entrants = entrantsOf(1000, oneSize);
    const byCard = Map.groupBy(entrants, (e) => e.card);
    for (const sharer of entrants.filter((e) => e.role === "sharer")) {
      const holders = byCard.get(sharer.card);
      assert.equal(holders.length, 2);
      assert.deepEqual(holders.map((e) => e.role).sort(), ["plain", "sharer"]);
    }
    assert.ok([...byCard.values()].every((holders) => holders.length <= 2));
  });

  it("passes a draw that kept every promise, each check a row of the report", () => {
    const rows = drawChecks(cleanDraw());
    assert.ok(rows.length >= 12);
    assert.ok(rows.every(([, , holds]) => holds));
  });

  it("fails a hold captured twice, and a live hold left after the sweep, naming each check", () => {
    const draw = cleanDraw();
    draw.gateway.capturedTwice = 1;
    draw.gateway.live = 3;
    const failed = drawChecks(draw).filter(([, , holds]) => !holds);
    assert.deepEqual(
      failed.map(([what]) => what),
      [
        "Draw: captured holds are the winners, each captured once into one charge",
        "Draw: every other hold cancelled or failed (after the sweep)",
      ],
    );
    const html = auditSection({ ...emptyAudit(), passed: false, draw });
    assert.match(html, /FAILED \(2 of \d+ checks\)/);
  });

  it("fails winners that depend on entry time, and units left while entries lost", () => {
    const draw = cleanDraw();
    draw.fairness = { deciles: [], chiSquare: 80, dof: 9, pValue: 0 };
    draw.allocation = ["S-42: 5 units left while 12 entries lost"];
    const failed = auditChecks({ ...emptyAudit(), draw }).filter(([, , holds]) => !holds);
    assert.equal(failed.length, 2);
    assert.match(failed[0][1], /5 units left while 12 entries lost/);
    assert.match(failed[1][0], /entry time/);
  });

  it("fails a book holding far more than its share of a large draw's entries", () => {
    const draw = { ...cleanDraw(), accepted: 4000, frozenCount: 4000 };
    draw.status = { ...draw.status, entries: 4000 };
    draw.books = { books: 16, fewest: 200, most: 400, mostOverMean: 1.6 };
    const failed = drawChecks(draw).filter(([, , holds]) => !holds);
    assert.deepEqual(failed.length, 1);
    assert.match(failed[0][0], /entry books/);
    assert.match(failed[0][1], /200 to 400 entries \(1\.6 × the mean\)/);
  });

  it("under the nemesis, fails a run whose kill missed its moment, naming it", () => {
    const landed = (at, phase) => ({ at, landed: true, phase });
    const draw = cleanDraw();
    draw.kills = [landed("entering", "open"), landed("close", "sealed"), landed("walk", "drawing")];
    draw.kills.push({ at: "sweep", landed: false, why: "every hold was released before the sweep was seen" });
    const failed = drawChecks(draw).filter(([, , holds]) => !holds);
    assert.equal(failed.length, 1);
    assert.match(failed[0][1], /missed sweep: every hold was released/);
    draw.kills[3] = landed("sweep", "drawn");
    assert.ok(drawChecks(draw).every(([, , holds]) => holds));
  });
});

function emptyAudit() {
  return {
    oversold: 0,
    lost: 0,
    double_charged: 0,
    refunds_mismatched: 0,
    stuck: 0,
    leaked_holds: 0,
    conserved: true,
    accepted: 0,
    orders: 0,
    paid: 0,
    conservation: {},
    passed: true,
  };
}
