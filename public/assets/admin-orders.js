// /admin/orders: find orders by email, id, status, fulfilment, SKU or date; each id opens the order.
// The filters live in the URL, so a search can be reloaded, shared or gone back to.
import { api, choice, field, money, nav, outcome, scrollTable, when } from "./admin-api.js";
import { app, el } from "./ui.js";

const STATUSES = [
  ["", "any"],
  ["pending_payment", "pending payment"],
  ["paid", "paid"],
  ["payment_failed", "payment failed"],
  ["cancelled", "cancelled"],
];
const FULFILMENTS = [
  ["", "any"],
  ["unfulfilled", "unfulfilled"],
  ["partially_fulfilled", "partially fulfilled"],
  ["fulfilled", "fulfilled"],
];

/** A date input's day as the start of that day in the operator's time zone, as ISO UTC. */
const dayStart = (value, plusDays = 0) => {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
};

function query(params) {
  const q = new URLSearchParams({ limit: "50" });
  for (const name of ["q", "status", "fulfillment", "sku"]) {
    const value = (params.get(name) ?? "").trim();
    if (!value) continue;
    // An email is searched as an email: the API's `q` also takes an order id.
    q.set(name === "q" && value.includes("@") ? "email" : name, value);
  }
  if (params.get("from")) q.set("since", dayStart(params.get("from")));
  if (params.get("to")) q.set("until", dayStart(params.get("to"), 1));
  return q;
}

/**
 * An order's money as checkout priced it, a cell each: subtotal, discount (with its code), shipping
 * (with its method), tax (marked when included in the prices) and total.
 */
export const totalsCells = (order) => {
  const t = order.totals ?? {};
  const discount = t.discount?.amount ? `−${money(t.discount)}` : money(t.discount);
  return [
    money(t.subtotal),
    order.discountCode ? `${discount} (${order.discountCode})` : discount,
    order.shippingMethod ? `${money(t.shipping)} · ${order.shippingMethod.name}` : money(t.shipping),
    t.taxIncluded ? `${money(t.tax)} incl.` : money(t.tax),
    money(order.total),
  ];
};

const orderRow = (order) => [
  el("a", { href: `/admin/orders/${encodeURIComponent(order.id)}`, "data-testid": "order-link" }, order.id),
  when(order.createdAt),
  order.customer.email,
  order.status,
  order.payment.status,
  order.fulfillmentStatus,
  ...totalsCells(order),
];

export async function ordersScreen() {
  const params = new URLSearchParams(location.search);
  const form = el(
    "form",
    {
      class: "filters",
      "data-testid": "order-search",
      onsubmit: (event) => {
        event.preventDefault();
        const chosen = new URLSearchParams();
        for (const [name, value] of new FormData(event.target))
          if (String(value).trim()) chosen.set(name, value);
        history.pushState(null, "", `/admin/orders${chosen.size ? `?${chosen}` : ""}`);
        ordersScreen();
      },
    },
    field("Email or order id", {
      name: "q",
      type: "search",
      value: params.get("q") ?? "",
      "data-testid": "search-q",
    }),
    choice("Status", "status", STATUSES, params.get("status") ?? ""),
    choice("Fulfilment", "fulfillment", FULFILMENTS, params.get("fulfillment") ?? ""),
    field("SKU", { name: "sku", value: params.get("sku") ?? "", autocapitalize: "characters" }),
    field("Created from", { name: "from", type: "date", value: params.get("from") ?? "" }),
    field("Created to", { name: "to", type: "date", value: params.get("to") ?? "" }),
    el("button", { type: "submit", class: "primary", "data-testid": "search-orders" }, "Search"),
  );
  const results = el("div", { "data-testid": "order-results" }, el("p", { class: "muted" }, "Searching…"));
  const status = outcome("orders-outcome");
  app.replaceChildren(nav(), el("h1", {}, "Orders"), form, status, results);
  const items = [];
  const more = async (cursor) => {
    const q = query(params);
    if (cursor) q.set("cursor", cursor);
    try {
      const page = await api("GET", `/v1/admin/orders?${q}`);
      items.push(...page.items);
      results.replaceChildren(
        items.length === 0
          ? el("p", { class: "muted", "data-testid": "no-orders" }, "No order matches.")
          : scrollTable(
              `${items.length} order${items.length === 1 ? "" : "s"}`,
              [
                "order",
                "created",
                "email",
                "status",
                "payment",
                "fulfilment",
                "subtotal",
                "discount",
                "shipping",
                "tax",
                "total",
              ],
              items.map(orderRow),
              "orders-table",
            ),
        page.nextCursor
          ? el("button", { type: "button", onclick: () => more(page.nextCursor) }, "More orders")
          : "",
      );
    } catch (error) {
      results.replaceChildren();
      status.fail(error);
    }
  };
  await more(null);
}
