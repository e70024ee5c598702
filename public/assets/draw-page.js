// A product sold by draw, on its product page (in place of "add to cart"): the window with a
// countdown, the sizes drawn and their units, then the entry form or this browser's entry, and the
// draw's public proof.
import { entryForm } from "./draw-enter.js";
import { entryTokenOf, entryView, keepEntryToken } from "./draw-entry.js";
import { proofPanel } from "./draw-proof.js";
import { el } from "./ui.js";

const at = (ms) => new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A wait as "2 d 3 h 04 min 05 s". */
function span(ms) {
  const s = Math.ceil(ms / 1000);
  const days = Math.floor(s / 86400);
  return [
    days ? `${days} d` : null,
    `${Math.floor((s % 86400) / 3600)} h`,
    `${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`,
    `${String(s % 60).padStart(2, "0")} s`,
  ]
    .filter(Boolean)
    .join(" ");
}

/**
 * A cancelled draw: no entry form, no cart either (its units are back in stock, but the product was
 * announced as drawn, so it is not sold first come by surprise), and this browser's entry if it has one.
 */
function cancelledPanel(item) {
  const token = entryTokenOf(item.id);
  // Its entry read as if the draw had closed at its cancel: nothing to withdraw, no entering again.
  const closed = { ...item, draw: { ...item.draw, closesAt: item.draw.cancelledAt } };
  const view = token ? entryView(closed, token, { onGone: () => view.remove() }) : null;
  view?.start();
  return el(
    "section",
    { class: "draw", "data-testid": "draw", "data-state": "cancelled" },
    el("h2", {}, "Sold by draw"),
    el(
      "p",
      { class: "refusal", "data-testid": "draw-cancelled" },
      "This draw was cancelled; nobody was charged.",
    ),
    el("p", {}, `Cancelled ${at(Date.parse(item.draw.cancelledAt))}.`),
    view,
    proofPanel(item).element,
  );
}

export function drawPanel(item) {
  if (item.draw.cancelledAt) return cancelledPanel(item);
  const opensAt = Date.parse(item.draw.opensAt);
  const closesAt = Date.parse(item.draw.closesAt);
  const countdown = el("p", { class: "countdown", "data-testid": "draw-countdown", "aria-live": "off" });
  const titleOf = (sku) => item.variants.find((variant) => variant.sku === sku)?.title ?? sku;
  const units = el(
    "ul",
    { class: "draw-units", "data-testid": "draw-units" },
    Object.entries(item.draw.units).map(([sku, n]) =>
      el("li", {}, `${titleOf(sku)}: ${n} unit${n === 1 ? "" : "s"}`),
    ),
  );
  const slot = el("div", { "data-testid": "draw-slot" });
  let formShown = false;

  function showEntry(token, made) {
    formShown = false;
    const view = entryView(item, token, { onGone: showForm });
    slot.replaceChildren(view);
    view.start(made);
  }

  function showForm() {
    formShown = Date.now() < closesAt;
    if (!formShown) {
      slot.replaceChildren(
        el("p", { "data-testid": "draw-closed" }, "Entries are closed: the draw is under way or done."),
      );
      return;
    }
    slot.replaceChildren(
      entryForm(item, {
        onEntered: ({ entry, entryToken }) => {
          keepEntryToken(item.id, entryToken);
          showEntry(entryToken, entry);
        },
        onCancelled: (cancelledAt) =>
          section.replaceWith(drawPanel({ ...item, draw: { ...item.draw, cancelledAt } })),
      }),
    );
  }

  function tick() {
    const now = Date.now();
    if (now < opensAt) countdown.textContent = `Entries open in ${span(opensAt - now)}`;
    else if (now < closesAt) countdown.textContent = `Entries close in ${span(closesAt - now)}`;
    else {
      countdown.textContent = "Entries are closed.";
      // A form left open at the close would only be refused.
      if (formShown) showForm();
      return;
    }
    setTimeout(tick, 1000);
  }

  const token = entryTokenOf(item.id);
  if (token) showEntry(token);
  else showForm();
  tick();
  const section = el(
    "section",
    { class: "draw", "data-testid": "draw" },
    el("h2", {}, "Sold by draw"),
    el(
      "p",
      {},
      "Enter during the window below. At the close, winners are drawn at random from every entry, and only winners are charged.",
    ),
    el("p", { "data-testid": "draw-window" }, `Entries open ${at(opensAt)} and close ${at(closesAt)}.`),
    countdown,
    el("h3", {}, "Sizes drawn"),
    units,
    slot,
    proofPanel(item).element,
  );
  return section;
}
