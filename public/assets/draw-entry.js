// "Your entry" in a draw, by the entry token this browser keeps per product: its state and the
// amount authorized, withdrawing it before the close, then the result (won, with the order; lost,
// with the authorization released) and the entrant's receipt to download.
import { el, money, readJson } from "./ui.js";

const ENTRIES_KEY = "stampede.drawEntries";

/** The entry token this browser keeps for a product's draw, if any. */
export const entryTokenOf = (productId) => readJson(ENTRIES_KEY, {})[productId] ?? null;

export function keepEntryToken(productId, token) {
  const all = readJson(ENTRIES_KEY, {});
  if (token) all[productId] = token;
  else delete all[productId];
  localStorage.setItem(ENTRIES_KEY, JSON.stringify(all));
}

const at = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** What each state means for the entrant. */
function stateText(entry) {
  const amount = money(entry.amount);
  switch (entry.state) {
    case "pending":
      return "Your entry is waiting for your card's authorization to finish.";
    case "entered":
      return `You are in the draw. ${amount} is authorized on your card: not charged unless you win.`;
    case "withdrawn":
      return "You withdrew this entry. The authorization on your card is released; nothing was charged.";
    case "void":
      return "This entry did not make it into the draw. Nothing was charged and any authorization is released.";
    case "won":
      return `You won! Your card was charged ${amount} and your order is placed.`;
    case "lost":
      return entry.reason === "draw_cancelled"
        ? "The draw was cancelled. The authorization on your card is released; nothing was charged."
        : "Not drawn this time. The authorization on your card is released; nothing was charged.";
    default:
      return "";
  }
}

/** What the amount is made of, when it is more than the price (shipping, tax added on top). */
function partsOf(entry) {
  const totals = entry.totals;
  if (!totals || (totals.shipping.amount === 0 && totals.tax.amount === 0)) return [];
  const method = entry.shippingMethod ? ` (${entry.shippingMethod.name})` : "";
  return [
    ["Price", money(totals.subtotal)],
    entry.shippingMethod || totals.shipping.amount > 0
      ? [`Shipping${method}`, totals.shipping.amount === 0 ? "Free" : money(totals.shipping)]
      : null,
    totals.tax.amount > 0 ? [totals.taxIncluded ? "Tax (included)" : "Tax", money(totals.tax)] : null,
  ].filter(Boolean);
}

const FINAL = new Set(["withdrawn", "void", "won", "lost"]);

async function entryCall(item, token, method = "GET", path = "") {
  return fetch(`/v1/drops/${encodeURIComponent(item.id)}/draw/entry${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}` },
  }).catch(() => null);
}

/** The receipt as a JSON file the entrant keeps (and checks with verify-draw --receipt). */
async function downloadReceipt(item, token, note) {
  const response = await entryCall(item, token, "GET", "/receipt");
  if (!response?.ok) {
    note.textContent =
      response?.status === 409
        ? "Your receipt is given once entries close."
        : "Your receipt could not be fetched. Try again in a moment.";
    return;
  }
  const url = URL.createObjectURL(new Blob([await response.text()], { type: "application/json" }));
  const link = el("a", { href: url, download: `draw-receipt-${item.slug}.json`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  note.textContent = "Receipt downloaded.";
}

/**
 * The entrant's view of their entry, polled (every 5 s, every 2 s once the draw has closed) until it
 * is settled (withdrawn, void, won or lost). `onGone()` when the entry cannot be read with this token any more (or, before the close,
 * when the buyer asks to enter again after withdrawing).
 */
export function entryView(item, token, { onGone }) {
  const closesAt = Date.parse(item.draw.closesAt);
  const state = el("p", { class: "order-status", "data-testid": "draw-entry-state", "aria-live": "polite" });
  const facts = el("dl", { class: "facts", "data-testid": "draw-entry-facts" });
  const actions = el("div", { class: "actions" });
  const note = el("p", { class: "refusal", role: "status", "data-testid": "draw-entry-note" });
  const box = el(
    "section",
    { class: "panel", "data-testid": "draw-entry" },
    el("h2", {}, "Your entry"),
    state,
    facts,
    actions,
    note,
  );
  let entry = null;
  let stopped = false;

  function show() {
    state.textContent = stateText(entry);
    state.dataset.status = entry.state === "won" ? "paid" : entry.state;
    box.dataset.state = entry.state;
    const size = item.variants.find((variant) => variant.sku === entry.sku);
    const rows = [
      ["Size", size ? size.title : entry.sku],
      ["Amount", money(entry.amount)],
      ...partsOf(entry),
      entry.enteredAt ? ["Entered", at(entry.enteredAt)] : null,
      item.draw?.cancelledAt
        ? ["Cancelled", at(item.draw.cancelledAt)]
        : ["Entries close", at(entry.closesAt)],
      entry.state === "entered" && entry.authorizationExpiresAt
        ? ["Authorization held until", at(entry.authorizationExpiresAt)]
        : null,
      ["Entry", entry.entryId],
    ].filter(Boolean);
    facts.replaceChildren(...rows.flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value)]));
    const open = Date.now() < closesAt;
    actions.replaceChildren(
      ...[
        entry.order
          ? el(
              "a",
              {
                class: "button primary",
                "data-testid": "draw-order-link",
                href: `/orders/${encodeURIComponent(entry.order.orderId)}#token=${encodeURIComponent(entry.order.orderToken)}`,
              },
              "See your order",
            )
          : null,
        open && (entry.state === "entered" || entry.state === "pending")
          ? el("button", { type: "button", "data-testid": "draw-withdraw", onclick: withdraw }, "Withdraw")
          : null,
        open && (entry.state === "withdrawn" || entry.state === "void")
          ? el(
              "button",
              { type: "button", "data-testid": "draw-enter-again", onclick: forget },
              "Enter again",
            )
          : null,
        // A cancelled draw publishes no sealed list, so it gives no receipts (even to an entry not yet
        // told it lost).
        !open &&
        !item.draw?.cancelledAt &&
        entry.state !== "withdrawn" &&
        entry.state !== "void" &&
        entry.reason !== "draw_cancelled"
          ? el(
              "button",
              {
                type: "button",
                "data-testid": "draw-receipt",
                onclick: () => downloadReceipt(item, token, note),
              },
              "Download your receipt (JSON)",
            )
          : null,
      ].filter(Boolean),
    );
  }

  function forget() {
    stopped = true;
    keepEntryToken(item.id, null);
    onGone();
  }

  async function withdraw(event) {
    event.target.disabled = true;
    const response = await entryCall(item, token, "DELETE");
    if (response?.ok) {
      entry = await response.json();
      note.textContent = "";
      show();
      return;
    }
    event.target.disabled = false;
    note.textContent =
      response?.status === 409
        ? "Entries are closed, so the entry stands as it is."
        : "The entry could not be withdrawn just now. Try again in a moment.";
  }

  async function poll() {
    while (!stopped) {
      const response = await entryCall(item, token);
      if (response?.ok) {
        entry = await response.json();
        show();
        if (FINAL.has(entry.state)) return;
      } else if (response && (response.status === 403 || response.status === 404)) {
        return forget();
      }
      await new Promise((resolve) => setTimeout(resolve, Date.now() >= closesAt ? 2000 : 5000));
    }
  }

  /** Shows an entry just made, then keeps it current. */
  box.start = (made) => {
    if (made) {
      entry = made;
      show();
    }
    poll();
    // At the close the withdraw button goes and the receipt's comes.
    const wait = closesAt - Date.now();
    if (wait > 0 && wait < 2 ** 31) setTimeout(() => entry && !stopped && show(), wait + 500);
  };
  return box;
}
