// The draw audit's checks, as rows for people: `[what was checked, what was found, holds]`. The
// audit passes when every row holds; the report shows them beside the run's common checks.

const list = (items) => (items.length ? items.join("; ") : "none");

export function drawChecks(draw) {
  const g = draw.gateway;
  const stock = Object.entries(draw.stock);
  const unbalanced = stock.filter(([, s]) => !s.ok).map(([sku, s]) => `${sku} ${JSON.stringify(s)}`);
  const surprises = Object.entries(draw.surprises).map(([what, n]) => `${n} × ${what}`);
  const { status } = draw;
  const f = draw.fairness;
  const rows = [
    [
      "Draw: every entrant got the answer its role calls for (201; 409 draw_already_entered for a second spelling; one 201 and one 409 draw_card_used per shared card; 402 for a declined card)",
      list(surprises),
      surprises.length === 0,
    ],
    ["Draw: no person entered twice", draw.personEnteredTwice, draw.personEnteredTwice === 0],
    [
      "Draw: the frozen list is exactly the accepted entries",
      `${draw.frozenCount} listed, ${draw.accepted} accepted`,
      draw.frozenListMatchesAccepted,
    ],
    [
      "Draw: winners and passed-on entries are accepted entries; only failing captures are passed on, none wins",
      `${draw.winnersOrPassedOnNotAccepted} not accepted, ${draw.failingCaptureWon} failing captures won, ${draw.passedOnNotFailingCapture} passed on with a good card`,
      draw.winnersOrPassedOnNotAccepted === 0 &&
        draw.failingCaptureWon === 0 &&
        draw.passedOnNotFailingCapture === 0,
    ],
    [
      "Draw: each size's units all won, or fewer only when its list ran out",
      `${draw.winners} winners for ${draw.units} units; ${list(draw.allocation)}`,
      draw.allocation.length === 0,
    ],
    [
      "Draw: captured holds are the winners, each captured once into one charge",
      `${g.captured} captured for ${draw.winners} winners; captured twice ${g.capturedTwice}, not a winner ${g.capturedNotWinner}, winner not captured once ${g.winnerNotCapturedOnce}, without one charge ${g.capturedWithoutOneCharge}`,
      g.captured === draw.winners &&
        g.capturedTwice === 0 &&
        g.capturedNotWinner === 0 &&
        g.winnerNotCapturedOnce === 0 &&
        g.capturedWithoutOneCharge === 0,
    ],
    [
      "Draw: every other hold cancelled or failed (after the sweep)",
      `${g.live} still live of ${g.holds}: ${JSON.stringify(g.byStatus)}`,
      g.live === 0,
    ],
    [
      "Draw: stock conserved (sold = winners, the rest of the held units back)",
      unbalanced.length ? unbalanced.join("; ") : `${stock.length} of ${stock.length} sizes balance`,
      unbalanced.length === 0,
    ],
    [
      "Draw: every winner's order is paid, for the size entered",
      `${draw.winnersWithoutPaidOrder} without`,
      draw.winnersWithoutPaidOrder === 0,
    ],
    [
      "Draw: the admin status agrees (entries, won, passed on)",
      `${status.entries} entries, ${status.won} won, ${status.passedOn} passed on (phase ${status.phase})`,
      status.entries === draw.accepted && status.won === draw.winners && status.passedOn === draw.passedOn,
    ],
    [
      "Draw: the published proof verifies (scripts/verify-draw.mjs), and an entrant's receipt",
      `exit ${draw.verifier.proof}, receipt exit ${draw.verifier.receipt}`,
      draw.verifier.proof === 0 && draw.verifier.receipt === 0,
    ],
    [
      // 16 books hold about 1/16 each: at 1,500 entries the fullest is expected about 17% over the
      // mean, and 35% over it happens in fewer than 1 run in 200 (binomial); more entries, less.
      "Draw: the entries spread over the entry books, none a hot spot (the fullest within 1.35 × the mean, from 1,500 entries)",
      `${draw.books.books} books, ${draw.books.fewest} to ${draw.books.most} entries (${draw.books.mostOverMean} × the mean)`,
      draw.accepted < 1500 || (draw.books.books === 16 && draw.books.mostOverMean <= 1.35),
    ],
    [
      "Draw: winning does not depend on entry time (chi-square over deciles, p ≥ 0.001)",
      `p = ${f.pValue} (chi² ${f.chiSquare}, ${f.dof} dof)`,
      f.pValue >= 0.001,
    ],
  ];
  if (draw.kills) {
    // Under the nemesis: each kill must have landed where it was meant to, or it proved nothing.
    const missed = draw.kills.filter((kill) => !kill.landed).map((kill) => `${kill.at}: ${kill.why}`);
    rows.push([
      "Draw: the runtime was killed while entrants entered, at the close, in the walk and in the sweep",
      missed.length
        ? `missed ${list(missed)}`
        : draw.kills.map((kill) => `${kill.at} (${kill.phase})`).join(", "),
      missed.length === 0 && draw.kills.length === 4,
    ]);
  }
  return rows;
}
