// A product's draw on the products screen: set one up (its window, the units drawn per size, an
// optional drand round), each refusal beside its field; then where it stands (its progress figures
// and its entries over time, an inline SVG chart), polled while the screen shows it (the figures every
// 5 s, the chart every 30 s), with a link to its public proof.
import { api, field, fieldErrors, isoOf, outcome, when } from "./admin-api.js";
import { readableText, svg, time } from "./ops-charts.js";
import { el } from "./ui.js";

const PHASES = {
  pooling: "Holding its units",
  short: "Not enough stock: nothing is held",
  open: "Open: its units held, entries taken in the window",
  closing: "Closing: the entry books are freezing",
  sealed: "Sealed: the list's digest is published, the seed not yet",
  drawing: "Drawing: the seed is revealed, winners charged in rank order",
  drawn: "Drawn",
  cancelled: "Cancelled: every entry lost, every authorization cancelled, the units back in stock",
};

/** The draw's progress once entries are in: what was charged, passed on, released and given back. */
function progressFigures(status) {
  const figures = [
    ["captured", "Captured (winners charged)", status.won],
    ["passed-on", "Passed on (capture failed)", status.passedOn],
    ["released", "Authorizations released (cancelled, or none held)", status.authorizations?.released ?? 0],
    ["to-cancel", "Authorizations still to cancel", status.authorizations?.toCancel ?? 0],
    ["given-back", "Units given back to stock", status.givenBack],
    ["held", "Units still held", status.held],
  ];
  return el(
    "dl",
    { class: "facts", "data-testid": "draw-progress" },
    figures.flatMap(([id, label, value]) => [
      el("dt", {}, label),
      el("dd", { "data-testid": `draw-progress-${id}` }, String(value)),
    ]),
  );
}

/**
 * Entries entered and withdrawn per bucket, over all the draw's entry books: two bars per bucket, an
 * inline SVG drawn here (only numbers and times go into it).
 */
function timelineChart(timeline) {
  const width = 560;
  const height = 160;
  const pad = { left: 44, right: 8, top: 10, bottom: 22 };
  const points = timeline.points;
  const max = Math.max(1, ...points.flatMap((point) => [point.entered, point.withdrawn]));
  const slot = (width - pad.left - pad.right) / Math.max(1, points.length);
  const y = (v) => pad.top + (1 - v / max) * (height - pad.top - pad.bottom);
  const bars = points.flatMap((point, i) =>
    [
      ["entered", point.entered, 0],
      ["withdrawn", point.withdrawn, 1],
    ]
      .filter(([, value]) => value > 0)
      .map(([series, value, side]) =>
        svg(
          "rect",
          {
            x: (pad.left + i * slot + side * slot * 0.45).toFixed(2),
            y: y(value).toFixed(1),
            width: Math.max(0.8, slot * 0.45).toFixed(2),
            height: (y(0) - y(value)).toFixed(1),
            fill: COLORS[series],
            "data-series": series,
          },
          svg("title", {}, `${time(point.at)}: ${value} ${series}`),
        ),
      ),
  );
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Entries over time", class: "chart" },
    svg("line", { x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), class: "axis" }),
    svg("text", { x: pad.left - 6, y: y(max) + 4, "text-anchor": "end", class: "tick" }, String(max)),
    svg("text", { x: pad.left - 6, y: y(0) + 4, "text-anchor": "end", class: "tick" }, "0"),
    svg("text", { x: pad.left, y: height - 4, class: "tick" }, time(timeline.from)),
    svg(
      "text",
      { x: width - pad.right, y: height - 4, "text-anchor": "end", class: "tick" },
      time(timeline.to),
    ),
    ...bars,
  );
  readableText(chart, width);
  const bucket =
    timeline.bucketSeconds < 3600
      ? `${timeline.bucketSeconds / 60} min`
      : `${timeline.bucketSeconds / 3600} h`;
  return el(
    "figure",
    {
      "data-testid": "draw-timeline",
      "data-entered": timeline.entered,
      "data-withdrawn": timeline.withdrawn,
    },
    el(
      "figcaption",
      {},
      `Entries over time, per ${bucket}: ${timeline.entered} entered, ${timeline.withdrawn} withdrawn`,
    ),
    chart,
    el(
      "p",
      { class: "legend" },
      Object.entries(COLORS).map(([name, color]) =>
        el("span", {}, el("i", { style: `background:${color}` }), ` ${name}`),
      ),
    ),
  );
}

const COLORS = { entered: "#2b6cb0", withdrawn: "#c05621" };
const STATUS_EVERY_MS = 5_000;
const CHART_EVERY_MS = 30_000;

/**
 * Where the draw stands: its status line, its progress figures and its entries over time, refreshed
 * while the panel is on the page and until nothing is left to do (drawn or cancelled, every
 * authorization settled and every unit either sold or back in stock). Each poll costs every entry
 * book a count, and the chart a read of every entry: the figures every 5 s, the chart every 30 s (its
 * closed buckets never change), sooner only for its first entries and its last look.
 */
function statusLine(product) {
  const line = el("p", { class: "muted", "data-testid": "draw-status", "aria-live": "polite" }, "Loading…");
  const progress = el("div", { "data-testid": "draw-progress-box" });
  const chart = el("div", {});
  const base = `/v1/admin/products/${encodeURIComponent(product.id)}/draw`;
  let timer = null;
  let chartAt = null;
  let charted = 0;
  const again = () => {
    timer = setTimeout(() => line.isConnected && refresh(), STATUS_EVERY_MS);
  };
  const refresh = async () => {
    clearTimeout(timer);
    let status;
    try {
      status = await api("GET", base);
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
    progress.replaceChildren(progressFigures(status));
    const settled =
      (status.authorizations?.toCancel ?? 0) === 0 && status.held === 0 && (status.books?.pending ?? 0) === 0;
    const done =
      status.phase === "short" || ((status.phase === "drawn" || status.phase === "cancelled") && settled);
    const entries = (status.books?.entered ?? 0) + (status.books?.withdrawn ?? 0);
    const chartDue =
      chartAt === null || Date.now() - chartAt >= CHART_EVERY_MS || done || (charted === 0 && entries > 0);
    if (status.phase !== "short" && status.phase !== "pooling" && chartDue) {
      try {
        const timeline = await api("GET", `${base}/timeline`);
        chart.replaceChildren(timelineChart(timeline));
        chartAt = Date.now();
        charted = timeline.entered;
      } catch (error) {
        // The last chart drawn stays (asked again at the next poll); the figures above are current.
        chart.dataset.error = error.message;
      }
    }
    if (!done) again();
  };
  line.refresh = refresh;
  line.extras = [progress, chart];
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
      ...status.extras,
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
