// The ops page: the sale at a glance. One request to the admin API per refresh (GET
// /v1/admin/dashboard), none while the tab is hidden; its charts are ops-charts.js. The screens
// under /admin/… share its shell and sign-in.
import { nav, TOKEN_KEY, scrollTable as table } from "./admin-api.js";
import { discountScreen } from "./admin-discount.js";
import { discountsScreen } from "./admin-discounts.js";
import { emailScreen, emailsScreen } from "./admin-emails.js";
import { fulfillmentsScreen } from "./admin-fulfillments.js";
import { orderScreen } from "./admin-order.js";
import { ordersScreen, totalsCells } from "./admin-orders.js";
import { pricingScreen } from "./admin-pricing.js";
import { productsScreen } from "./admin-products.js";
import { lineChart, stockChart, time, ZONE } from "./ops-charts.js";
import { app, el, notice } from "./ui.js";

const WATCH_KEY = "stampede.watchedSkus";
const REFRESH_MS = 5000;
const MINUTES = 5;

/** Replaces the page's content; parts that are null are left out. */
const show = (...parts) =>
  app.replaceChildren(...parts.filter((part) => part !== null && part !== undefined));

function say(message) {
  notice.hidden = !message;
  notice.textContent = message ?? "";
  notice.dataset.tone = message ? "error" : "";
}

const SKU = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const watched = () => (localStorage.getItem(WATCH_KEY) ?? "").split(",").filter(Boolean);

async function fetchDashboard(token) {
  const query = new URLSearchParams({ minutes: String(MINUTES) });
  if (watched().length > 0) query.set("skus", watched().join(","));
  const response = await fetch(`/v1/admin/dashboard?${query}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (response.status === 401) throw Object.assign(new Error("unauthorized"), { status: 401 });
  const body = await response.json().catch(() => null);
  if (response.status === 400)
    throw new Error("a watched SKU is not a valid SKU: change the watch list below");
  if (!response.ok) throw new Error(body?.detail ?? `the dashboard answered ${response.status}`);
  return body;
}

function signIn(message) {
  const form = el(
    "form",
    {
      class: "checkout",
      onsubmit: (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, new FormData(event.target).get("token"));
        start();
      },
    },
    el("label", { for: "token" }, "Admin token"),
    el("input", {
      id: "token",
      name: "token",
      type: "password",
      required: true,
      autocomplete: "off",
      "data-testid": "admin-token",
    }),
    el("button", { type: "submit", class: "primary", "data-testid": "admin-sign-in" }, "Open"),
  );
  show(
    el("h1", {}, "Operations"),
    message ? el("p", { class: "muted", role: "alert", "data-testid": "admin-refused" }, message) : null,
    form,
  );
}

const unknown = (value) => (value === null || value === undefined ? "?" : value);
let filter = "";

function watchForm() {
  return el(
    "form",
    {
      class: "watch",
      onsubmit: (event) => {
        event.preventDefault();
        const skus = String(new FormData(event.target).get("skus") ?? "")
          .split(/[\s,]+/)
          .filter(Boolean);
        const invalid = skus.filter((sku) => !SKU.test(sku));
        if (invalid.length > 0 || skus.length > 20) {
          say(invalid.length > 0 ? `Not SKUs: ${invalid.join(", ")}` : "Watch at most 20 SKUs");
          return;
        }
        localStorage.setItem(WATCH_KEY, skus.join(","));
        tick();
      },
    },
    el("label", { for: "skus" }, "Watch SKUs (comma-separated; empty: those selling most)"),
    el("input", { id: "skus", name: "skus", value: watched().join(", "), "data-testid": "watch-skus" }),
    el("button", { type: "submit" }, "Watch"),
  );
}

/**
 * The page's frame, built once after sign-in: the figures above and below the controls are replaced
 * at each refresh, the controls (watch list, filter) never, so typing in them survives a refresh.
 */
const frame = { top: null, stock: null, bottom: null };

function buildFrame() {
  frame.top = el(
    "div",
    { "data-testid": "ops-top" },
    el("p", { class: "muted", "data-testid": "ops-loading" }, "Loading the sale…"),
  );
  frame.stock = el("div");
  frame.bottom = el("div");
  const filterInput = el("input", {
    id: "filter",
    type: "search",
    placeholder: "SKU contains…",
    "data-testid": "stock-filter",
    oninput: (event) => {
      filter = event.target.value.trim().toLowerCase();
      if (last) renderStock(last);
    },
  });
  show(
    nav(),
    el("h1", {}, "Operations"),
    frame.top,
    watchForm(),
    el("p", {}, el("label", { for: "filter" }, "Filter "), filterInput),
    frame.stock,
    frame.bottom,
  );
}

function renderStock(data) {
  const rows = (data.stock ?? []).filter((r) => !filter || r.sku.toLowerCase().includes(filter));
  frame.stock.replaceChildren(
    table(
      "Stock of the watched SKUs",
      ["SKU", "stocked", "sold", "held", "available", `sold (paid) in ${data.minutes} min`],
      rows.map((r) =>
        r.known
          ? [r.sku, r.stocked, r.committed, r.reserved, r.available, r.soldInWindow]
          : [r.sku, "not in the catalog", "", "", "", ""],
      ),
      "ops-stock",
    ),
  );
}

function render(data) {
  const points = data.sale?.points ?? [];
  const times = points.map((p) => p.at);
  const per = (key) => points.map((p) => p.perSecond[key]);
  frame.top.replaceChildren(
    ...[
      el(
        "p",
        { class: "muted", "data-testid": "ops-updated" },
        `Updated ${time(data.now)} · times in ${ZONE} · last ${data.minutes} minutes · refreshes every ${REFRESH_MS / 1000} s`,
      ),
      data.unavailable.length > 0
        ? el(
            "p",
            { class: "notice", "data-tone": "error" },
            `Not answering right now: ${data.unavailable.join(", ")}`,
          )
        : null,
      el(
        "section",
        { class: "charts" },
        lineChart("chart-checkouts", "Checkouts per second", "/s", times, [
          { name: "accepted", color: "#0a7d4b", values: per("accepted") },
          { name: "sold out (409)", color: "#c77700", values: per("refused") },
          { name: "rate limited (429)", color: "#6b4fbb", values: per("rateLimited") },
          { name: "unavailable (503)", color: "#c0262d", values: per("unavailable") },
        ]),
        lineChart("chart-latency", "Checkout latency", " ms", times, [
          { name: "p50", color: "#1f6feb", values: points.map((p) => p.p50Ms) },
          { name: "p99", color: "#c0262d", values: points.map((p) => p.p99Ms) },
        ]),
        stockChart(data.stock ?? []),
      ),
      table(
        "Payments",
        [
          "pending",
          "paid",
          "failed",
          "cancelled",
          "retries over",
          "queued, not yet attempted",
          "waiting for the buyer (3-D Secure)",
          "refunded",
          "disputed",
        ],
        data.payments
          ? [
              [
                data.payments.paymentsPending,
                data.payments.byStatus.paid ?? 0,
                data.payments.byStatus.payment_failed ?? 0,
                data.payments.byStatus.cancelled ?? 0,
                data.payments.deadLettered,
                unknown(data.payments.unsentPayments),
                data.payments.awaitingBuyer,
                data.payments.refunded,
                data.payments.disputed,
              ],
            ]
          : [["?", "?", "?", "?", "?", "?", "?", "?", "?"]],
        "ops-payments",
      ),
      table(
        "Order intake (shards)",
        ["orders owing work", "overdue > 1 min", "not yet in D1", "checkouts in flight"],
        data.intake
          ? [[data.intake.owed, data.intake.overdue, data.intake.unprojected, data.intake.claimsInFlight]]
          : [["?", "?", "?", "?"]],
        "ops-intake",
      ),
    ].filter(Boolean),
  );
  renderStock(data);
  frame.bottom.replaceChildren(
    ...(data.drops?.length
      ? [
          table(
            "Drops (waiting rooms)",
            ["drop", `starts (${ZONE})`, "joined", "waiting", "let in", "sold", "units left", "state"],
            data.drops.map((d) => [
              d.title,
              d.saleStartsAt ? time(d.saleStartsAt) : "",
              d.joined,
              d.waiting,
              d.admitted,
              d.sold,
              d.unitsLeft,
              d.soldOut ? "sold out" : "open",
            ]),
            "ops-drops",
          ),
        ]
      : []),
    table(
      "Recent orders",
      [
        "order",
        "status",
        "payment",
        "attempts",
        "subtotal",
        "discount",
        "shipping",
        "tax",
        "total",
        `created (${ZONE})`,
      ],
      (data.recentOrders ?? []).map((o) => [
        o.id,
        o.status,
        o.payment.dispute ? `${o.payment.status} · disputed (${o.payment.dispute.status})` : o.payment.status,
        o.payment.attempts,
        ...totalsCells(o),
        time(o.createdAt),
      ]),
      "ops-orders",
    ),
  );
}

let token = null;
let timer = null;
let last = null;

async function tick() {
  clearTimeout(timer);
  try {
    last = await fetchDashboard(token);
    say(null);
    render(last);
  } catch (error) {
    if (error.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return signIn("That token was not accepted.");
    }
    // Keep showing the last figures, marked stale; try again at the next refresh.
    say(
      `Refresh failed (${error.message}); showing ${last ? `figures from ${time(last.now)}` : "nothing yet"}, retrying…`,
    );
  }
  if (!document.hidden) timer = setTimeout(tick, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && token) tick();
  else clearTimeout(timer);
});

/** The screens under /admin/…, by path; /admin itself is the dashboard. */
function screen(path) {
  const [, , name, id] = path.split("/").map(decodeURIComponent);
  if (name === "orders") return id ? () => orderScreen(id) : ordersScreen;
  if (name === "emails") return id ? () => emailScreen(id) : emailsScreen;
  if (name === "fulfillments") return fulfillmentsScreen;
  if (name === "products") return productsScreen;
  if (name === "discounts") return id ? () => discountScreen(id) : discountsScreen;
  if (name === "pricing") return pricingScreen;
  return null;
}

function start() {
  token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return signIn();
  clearTimeout(timer);
  const other = screen(location.pathname);
  if (other) {
    say(null);
    return other().then(() => {
      // A refusal of the token sends the operator back to sign in.
      if (!sessionStorage.getItem(TOKEN_KEY)) signIn("That token was not accepted.");
    });
  }
  buildFrame();
  tick();
}

// Searches push their filters into the URL: going back shows the screen as it was.
window.addEventListener("popstate", start);
start();
