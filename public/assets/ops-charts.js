// The ops page's charts, drawn as inline SVG (no library), and the one clock every time on the
// page is told in: the operator's time zone.
import { el } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

export const svg = (tag, attributes = {}, ...children) => {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
};

// One time zone for every time on the page: the operator's, named in the header.
export const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const clock = new Intl.DateTimeFormat(undefined, {
  timeZone: ZONE,
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});
export const time = (iso) => clock.format(new Date(iso));

/**
 * The chart scales with its box; its labels are kept at 12 CSS pixels whatever the box's width
 * (drawn in the viewBox's units, they would shrink to about 6 px on a phone).
 */
export function readableText(chart, width) {
  new ResizeObserver(() => {
    const shown = chart.getBoundingClientRect().width;
    if (shown > 0) chart.style.fontSize = `${(12 * width) / shown}px`;
  }).observe(chart);
}

/** A line chart of several series over the same times; `max` at least 1 so a quiet sale draws flat. */
export function lineChart(testid, title, unit, times, series) {
  const width = 560;
  const height = 160;
  const pad = { left: 44, right: 8, top: 10, bottom: 22 };
  const values = series.flatMap((s) => s.values.filter((v) => v !== null));
  const max = Math.max(1, ...values);
  const x = (i) => pad.left + (i / Math.max(1, times.length - 1)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - v / max) * (height - pad.top - pad.bottom);
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" },
    svg("line", { x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), class: "axis" }),
    svg(
      "text",
      { x: pad.left - 6, y: y(max) + 4, "text-anchor": "end", class: "tick" },
      `${Math.round(max * 10) / 10}`,
    ),
    svg("text", { x: pad.left - 6, y: y(0) + 4, "text-anchor": "end", class: "tick" }, "0"),
    svg("text", { x: pad.left, y: height - 4, class: "tick" }, times.length ? time(times[0]) : ""),
    svg(
      "text",
      { x: width - pad.right, y: height - 4, "text-anchor": "end", class: "tick" },
      times.length ? time(times.at(-1)) : "",
    ),
  );
  readableText(chart, width);
  for (const s of series) {
    let d = "";
    s.values.forEach((v, i) => {
      if (v === null) return;
      d += `${d && s.values[i - 1] !== null ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    chart.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "data-series": s.name }));
  }
  const legend = el(
    "p",
    { class: "legend" },
    series.map((s) => {
      const last = s.values.filter((v) => v !== null).at(-1);
      return el("span", {}, el("i", { style: `background:${s.color}` }), ` ${s.name} ${last ?? "–"}${unit}`);
    }),
  );
  return el("figure", { "data-testid": testid }, el("figcaption", {}, title), chart, legend);
}

/** Units sold (and held) against what the sale started with, one bar per watched SKU. */
export function stockChart(rows) {
  const known = rows.filter((r) => r.known);
  if (known.length === 0)
    return el(
      "p",
      { class: "muted", "data-testid": "chart-stock" },
      "No SKU is selling yet; watch one below.",
    );
  return el(
    "figure",
    { "data-testid": "chart-stock" },
    el("figcaption", {}, "Units sold against stock"),
    el(
      "div",
      { class: "bars" },
      known.map((r) => {
        const total = Math.max(1, r.stocked);
        return el(
          "div",
          { class: "bar-row", "data-sku": r.sku },
          el("span", { class: "bar-label" }, r.sku),
          el(
            "span",
            {
              class: "bar",
              title: `${r.committed} sold, ${r.reserved} held, ${r.available} left of ${r.stocked}`,
            },
            el("span", { class: "sold", style: `width:${(100 * r.committed) / total}%` }),
            el("span", { class: "held", style: `width:${(100 * r.reserved) / total}%` }),
          ),
          el("span", { class: "bar-value" }, `${r.committed} / ${r.stocked}`),
        );
      }),
    ),
  );
}
