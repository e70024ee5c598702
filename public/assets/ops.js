// The ops page: what an operator watches during a sale, refreshed every few seconds from the admin API.
const app = document.getElementById("app");
const notice = document.getElementById("notice");
const TOKEN_KEY = "stampede.adminToken";
const REFRESH_MS = 3000;

const el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  node.append(...children.flat());
  return node;
};

const money = ({ amount, currency }) =>
  new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount / 100);

async function admin(path, token) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) throw Object.assign(new Error("unauthorized"), { status: 401 });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
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
      required: "",
      autocomplete: "off",
      "data-testid": "admin-token",
    }),
    el("button", { type: "submit", class: "primary", "data-testid": "admin-sign-in" }, "Open"),
  );
  app.replaceChildren(el("h1", {}, "Operations"), message ? el("p", { class: "muted" }, message) : "", form);
}

/** Asks for many SKUs at once, a few at a time, so a refresh does not flood the objects. */
async function inBatches(items, size, work) {
  const results = [];
  for (let i = 0; i < items.length; i += size)
    results.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return results;
}

const table = (caption, head, rows, testid) =>
  el(
    "table",
    { "data-testid": testid },
    el("caption", {}, caption),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        head.map((h) => el("th", { scope: "col" }, h)),
      ),
    ),
    el(
      "tbody",
      {},
      rows.map((row) =>
        el(
          "tr",
          {},
          row.map((cell) => el("td", {}, String(cell))),
        ),
      ),
    ),
  );

async function refresh(token, skus) {
  const [summary, recent, stock] = await Promise.all([
    admin("/v1/admin/orders/summary", token),
    admin("/v1/admin/orders?limit=15", token),
    inBatches(skus, 10, (sku) =>
      admin(`/v1/admin/inventory/${encodeURIComponent(sku)}`, token).catch(() => null),
    ),
  ]);
  const rows = stock
    .filter(Boolean)
    .sort((a, b) => b.committed + b.reserved - (a.committed + a.reserved) || a.available - b.available)
    .map((s) => [s.sku, s.onHand, s.reserved, s.available, s.committed, s.bucketCount]);
  app.replaceChildren(
    el("h1", {}, "Operations"),
    el(
      "p",
      { class: "muted" },
      `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`,
    ),
    table(
      "Payments",
      ["pending", "paid", "failed", "cancelled", "retries over", "not yet attempted"],
      [
        [
          summary.paymentsPending,
          summary.byStatus.paid,
          summary.byStatus.payment_failed,
          summary.byStatus.cancelled,
          summary.deadLettered,
          summary.unsentPayments,
        ],
      ],
      "ops-payments",
    ),
    table(
      "Order intake (shards)",
      ["orders owing work", "overdue > 1 min", "not yet in D1", "checkouts in flight"],
      [
        [
          summary.intake.owed,
          summary.intake.overdue,
          summary.intake.unprojected,
          summary.intake.claimsInFlight,
        ],
      ],
      "ops-intake",
    ),
    table(
      "Recent orders",
      ["order", "status", "payment", "attempts", "total", "created"],
      recent.items.map((o) => [
        o.id,
        o.status,
        o.payment.status,
        o.payment.attempts,
        money(o.total),
        o.createdAt,
      ]),
      "ops-orders",
    ),
    table(
      "Stock (busiest first)",
      ["SKU", "on hand", "reserved", "available", "committed", "buckets"],
      rows,
      "ops-stock",
    ),
  );
}

function showFailure(error) {
  notice.hidden = false;
  notice.textContent = `Refresh failed: ${error.message}`;
}

async function start() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return signIn();
  try {
    const listed = await (await fetch("/v1/products?limit=100")).json();
    const skus = listed.items.flatMap((p) => p.variants.map((v) => v.sku));
    await refresh(token, skus);
    setInterval(() => refresh(token, skus).catch(showFailure), REFRESH_MS);
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    signIn(error.status === 401 ? "That token was not accepted." : "The admin API could not be reached.");
  }
}

start();
