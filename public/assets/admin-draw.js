// A product's draw on the products screen: set one up (its window, the units drawn per size, an
// optional drand round), each refusal beside its field; then where it stands, polled every 3 s while
// the screen shows it, with a link to its public proof.
import { api, field, fieldErrors, isoOf, outcome, when } from "./admin-api.js";
import { el } from "./ui.js";

const PHASES = {
  pooling: "Holding its units",
  short: "Not enough stock: nothing is held",
  open: "Open: its units held, entries taken in the window",
  closing: "Closing: the entry books are freezing",
  sealed: "Sealed: the list's digest is published, the seed not yet",
  drawing: "Drawing: the seed is revealed, winners charged in rank order",
  drawn: "Drawn",
};

/** The draw's status line, refreshed every 3 s until the panel leaves the page or the draw is drawn. */
function statusLine(product) {
  const line = el("p", { class: "muted", "data-testid": "draw-status", "aria-live": "polite" }, "Loading…");
  let timer = null;
  const again = () => {
    timer = setTimeout(() => line.isConnected && refresh(), 3000);
  };
  const refresh = async () => {
    clearTimeout(timer);
    let status;
    try {
      status = await api("GET", `/v1/admin/products/${encodeURIComponent(product.id)}/draw`);
    } catch (error) {
      line.textContent = error.status === 404 ? "No draw set up." : error.message;
      line.dataset.phase = error.status === 404 ? "none" : "unknown";
      if (error.status !== 404) again();
      return;
    }
    const units = Object.values(status.units).reduce((sum, n) => sum + n, 0);
    line.dataset.phase = status.phase;
    line.textContent = [
      PHASES[status.phase] ?? status.phase,
      `units ${units}`,
      `held ${status.held}`,
      `entries ${status.entries}`,
      `won ${status.won}`,
      `passed on ${status.passedOn}`,
      status.detail,
    ]
      .filter((part) => part !== null && part !== "")
      .join(" · ");
    if (status.phase !== "drawn" && status.phase !== "short") again();
  };
  line.refresh = refresh;
  return line;
}

function setUpForm(product, done, status) {
  const result = outcome("draw-outcome");
  const form = el(
    "form",
    {
      class: "product-form",
      "data-testid": "draw-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const units = Object.fromEntries(
          product.variants
            .map((variant) => [variant.sku, Number(data.get(`units-${variant.sku}`) || 0)])
            .filter(([, n]) => n > 0),
        );
        const chain = String(data.get("beaconChain") ?? "").trim();
        const round = String(data.get("beaconRound") ?? "").trim();
        const body = {
          opensAt: isoOf(String(data.get("opensAt"))),
          closesAt: isoOf(String(data.get("closesAt"))),
          units,
          ...(chain || round ? { beacon: { chain, round: Number(round) } } : {}),
        };
        try {
          const answer = await api("POST", `/v1/admin/products/${encodeURIComponent(product.id)}/draw`, {
            body,
          });
          fieldErrors(form, null);
          result.show("Draw set up: its units are held and its commitment published.");
          done(answer.product);
        } catch (error) {
          fieldErrors(form, error);
          result.fail(error);
          // A refused setup may still leave a draw behind (one short of stock): the status says.
          status.refresh();
        }
      },
    },
    el(
      "label",
      { class: "field", for: "d-opensAt", "data-path": "opensAt" },
      el("span", {}, "Entries open"),
      el("input", {
        id: "d-opensAt",
        name: "opensAt",
        type: "datetime-local",
        step: 1,
        required: true,
        "data-testid": "draw-opens",
      }),
    ),
    el(
      "label",
      { class: "field", for: "d-closesAt", "data-path": "closesAt" },
      el("span", {}, "Entries close"),
      el("input", {
        id: "d-closesAt",
        name: "closesAt",
        type: "datetime-local",
        step: 1,
        required: true,
        "data-testid": "draw-closes",
      }),
    ),
    el("p", { class: "muted", "data-path": "units" }, "Units drawn per size (empty or 0: not drawn):"),
    product.variants.map((variant) =>
      el(
        "div",
        { "data-path": `units.${variant.sku}` },
        field(variant.sku, {
          id: `d-units-${variant.sku}`,
          name: `units-${variant.sku}`,
          type: "number",
          min: 0,
          "data-testid": `draw-units-${variant.sku}`,
        }),
      ),
    ),
    el(
      "div",
      { "data-path": "beacon" },
      el(
        "div",
        { "data-path": "beacon.chain" },
        field("Beacon chain (drand, optional)", { name: "beaconChain", id: "d-chain", maxlength: 64 }),
      ),
      el(
        "div",
        { "data-path": "beacon.round" },
        field("Beacon round", { name: "beaconRound", id: "d-round", type: "number", min: 1 }),
      ),
    ),
    el("button", { type: "submit", class: "primary", "data-testid": "draw-set-up" }, "Set up the draw"),
  );
  return [form, result];
}

/** The draw panel of a product on the products screen. */
export function drawAdminPanel(product) {
  const box = el("div", { class: "stock", "data-testid": "draw-panel" });
  const status = statusLine(product);
  const fill = (current) => {
    const draw = current.draw;
    box.replaceChildren(
      el("h4", {}, "Draw"),
      status,
      draw
        ? el(
            "p",
            { "data-testid": "draw-settings" },
            `Entries ${when(draw.opensAt)} to ${when(draw.closesAt)}; units ${Object.entries(draw.units)
              .map(([sku, n]) => `${sku} ${n}`)
              .join(", ")}. `,
            el(
              "a",
              {
                href: `/v1/drops/${encodeURIComponent(current.slug)}/draw/proof`,
                "data-testid": "draw-proof-link",
              },
              "Public proof (JSON)",
            ),
          )
        : null,
      ...(draw ? [] : setUpForm(current, fill, status)),
    );
    status.refresh();
  };
  fill(product);
  return box;
}
