// A draw's public proof on its product page: the commitment published before the open, then the
// frozen list's digest, the seed and the winners as the draw goes on, and how anyone checks them.
import { el } from "./ui.js";

const FINAL_STATE = "drawn";

const STATES = {
  open: "Entries are being taken. The seed stays secret until the close.",
  closed: "Entries are closed and the list is sealed. The seed is revealed next.",
  revealed: "The seed is revealed: winners are being drawn and charged in rank order.",
  drawn: "Drawn: the winners are published.",
};

const mono = (text) => el("span", { class: "mono" }, text);

/**
 * The proof panel for `item`'s draw. Its record is read at once and at most every minute before the
 * close, then every 2 s until the draw is drawn; `element` is the panel.
 */
export function proofPanel(item) {
  const url = `/v1/drops/${encodeURIComponent(item.slug)}/draw/proof`;
  const closesAt = Date.parse(item.draw.closesAt);
  const state = el("p", { "data-testid": "draw-proof-state", "aria-live": "polite" }, STATES.open);
  const facts = el("dl", { class: "facts", "data-testid": "draw-proof-facts" });
  const titleOf = (sku) => {
    const variant = item.variants.find((candidate) => candidate.sku === sku);
    return variant ? `${variant.title} (${sku})` : sku;
  };
  const command = `npm run verify-draw -- ${location.origin} ${item.slug}`;
  const element = el(
    "section",
    { class: "panel", "data-testid": "draw-proof" },
    el("h2", {}, "The draw's proof"),
    state,
    facts,
    el(
      "p",
      { "data-testid": "draw-verify" },
      "How to verify: in the shop's repository run ",
      el("code", {}, command),
      ". It recomputes the commitment, the list's digest, the ranking and the winners from the public record, and checks your receipt with ",
      el("code", {}, "--receipt <file>"),
      ".",
    ),
    el("p", {}, el("a", { href: url, "data-testid": "draw-proof-link" }, "The public record (JSON)")),
  );

  function show(record) {
    state.textContent = record.cancelled
      ? "Cancelled: nobody was drawn or charged."
      : (STATES[record.state] ?? "");
    element.dataset.state = record.state;
    const digest = record.entryDigest;
    const units = record.unitsBySku
      ? Object.entries(record.unitsBySku)
          .map(([sku, n]) => `${titleOf(sku)}: ${n}`)
          .join(", ")
      : null;
    const rows = [
      ["Commitment (SHA-256 of the seed)", mono(record.commitment), "draw-commitment"],
      digest
        ? [
            "Entry list digest",
            [mono(digest.root), ` (${digest.count} entr${digest.count === 1 ? "y" : "ies"})`],
            "draw-digest",
          ]
        : null,
      units ? ["Units drawn", units, "draw-units-drawn"] : null,
      record.beacon
        ? ["Beacon (drand)", `chain ${record.beacon.chain}, round ${record.beacon.round}`, "draw-beacon"]
        : null,
      record.seed ? ["Seed", mono(record.seed), "draw-seed"] : null,
      record.beaconRandomness
        ? ["Beacon randomness", mono(record.beaconRandomness), "draw-randomness"]
        : null,
      record.winners ? ["Winners", String(record.winners.length), "draw-winners"] : null,
      record.passedOn
        ? ["Passed on (payment failed)", String(record.passedOn.length), "draw-passed-on"]
        : null,
    ].filter(Boolean);
    facts.replaceChildren(
      ...rows.flatMap(([label, value, testid]) => [
        el("dt", {}, label),
        el("dd", { "data-testid": testid }, value),
      ]),
    );
  }

  show({ state: "open", commitment: item.draw.commitment, beacon: item.draw.beacon });
  (async () => {
    for (;;) {
      const response = await fetch(url).catch(() => null);
      const record = response?.ok ? await response.json().catch(() => null) : null;
      if (record) show(record);
      if (record?.state === FINAL_STATE || record?.cancelled) return;
      const untilClose = closesAt - Date.now();
      await new Promise((resolve) =>
        setTimeout(resolve, untilClose > 0 ? Math.min(untilClose + 500, 60_000) : 2000),
      );
    }
  })();
  return { element };
}
