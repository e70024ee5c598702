// The order page: polls until the payment settles and says what happened, handing the buyer what
// their bank asks of them (3-D Secure) on the way; and the payment simulator's challenge page.
import { loadStripe } from "./checkout-page.js";
import { app, CHALLENGE_RETURN_KEY, el, money, ORDERS_KEY, readJson, render, say } from "./ui.js";

const outcomes = {
  pending_payment: "Payment in progress…",
  requires_action: "Your bank asks you to confirm this payment.",
  processing: "Your payment is being processed…",
  paid: "Paid: your order is confirmed.",
  payment_failed: "Payment failed: nothing was charged and the items were released.",
  cancelled: "Cancelled.",
};

/**
 * The order's token: from the link in the buyer's email (`#token=…`, kept like the tokens of orders
 * placed here, then taken out of the address bar), or from this browser's own orders.
 */
function orderToken(id) {
  const orders = readJson(ORDERS_KEY, {});
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    orders[id] = fromLink;
    localStorage.setItem(ORDERS_KEY, JSON.stringify(orders));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return orders[id];
}

const httpLink = (url, text) => {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "https:" || parsed.protocol === "http:")
      return el("a", { href: parsed.href, rel: "noopener noreferrer", target: "_blank" }, text);
  } catch {
    // not a URL: shown as text
  }
  return text;
};

/**
 * What the order came to, as the shop priced it at checkout: subtotal, the code's discount, shipping
 * (and by what method), tax (included in the prices or added) and the total charged.
 */
function totals(current) {
  const t = current.totals;
  const rows = [
    ["Subtotal", money(t.subtotal), "order-subtotal"],
    t.discount.amount > 0 || current.discountCode
      ? [
          current.discountCode ? `Discount (${current.discountCode})` : "Discount",
          `−${money(t.discount)}`,
          "order-discount",
        ]
      : null,
    current.shippingMethod || t.shipping.amount > 0
      ? [
          current.shippingMethod ? `Shipping (${current.shippingMethod.name})` : "Shipping",
          t.shipping.amount === 0 ? "Free" : money(t.shipping),
          "order-shipping",
        ]
      : null,
    t.tax.amount > 0 ? [t.taxIncluded ? "Tax (included)" : "Tax", money(t.tax), "order-tax"] : null,
    ["Total", money(current.total), "order-total"],
  ].filter(Boolean);
  return el(
    "section",
    { class: "summary", "aria-labelledby": "order-totals", "data-testid": "order-totals" },
    el("h2", { id: "order-totals" }, "Totals"),
    el(
      "dl",
      {},
      rows.flatMap(([label, value, testid]) => [
        el("dt", {}, label),
        el("dd", { "data-testid": testid }, value),
      ]),
    ),
  );
}

/** Once the payment is settled: the lines, the money, where it ships, what was shipped or refunded. */
function settled(current) {
  const a = current.shippingAddress;
  const lines = (list) => list.map((line) => `${line.quantity} × ${line.sku}`).join(", ");
  return [
    el(
      "ul",
      { class: "lines" },
      current.items.map((item) =>
        el("li", {}, `${item.quantity} × ${item.title} · ${money(item.unitPrice)}`),
      ),
    ),
    totals(current),
    a
      ? el(
          "section",
          { "data-testid": "order-address" },
          el("h2", {}, "Shipping to"),
          el(
            "address",
            {},
            [a.name, a.line1, a.line2, [a.postalCode, a.city].join(" "), a.region, a.country]
              .filter(Boolean)
              .flatMap((line) => [line, el("br")]),
          ),
        )
      : null,
    current.fulfillments?.length
      ? el(
          "section",
          { "data-testid": "order-fulfillments" },
          el("h2", {}, "Shipped"),
          el(
            "ul",
            {},
            current.fulfillments.map((f) =>
              el(
                "li",
                {},
                `${lines(f.lines)} with ${f.carrier}, tracking `,
                f.trackingUrl ? httpLink(f.trackingUrl, f.trackingNumber) : f.trackingNumber,
              ),
            ),
          ),
        )
      : null,
    current.refunds?.length
      ? el(
          "section",
          { "data-testid": "order-refunds" },
          el("h2", {}, "Refunds"),
          el(
            "ul",
            {},
            current.refunds.map((r) =>
              el(
                "li",
                {},
                `${money(r.amount)}${r.lines ? ` for ${lines(r.lines)}` : ""} · ${r.status === "succeeded" ? "refunded" : r.status === "failed" ? "not refunded" : "on its way"}`,
              ),
            ),
          ),
        )
      : null,
  ];
}

export async function order() {
  const id = location.pathname.split("/")[2] ?? "";
  const token = orderToken(id);
  const status = el(
    "p",
    { class: "order-status", "data-testid": "order-status", "aria-live": "polite" },
    "Loading…",
  );
  render(el("h1", {}, "Your order"), el("p", { class: "muted" }, `Order ${id}`), status);
  if (!token) {
    status.textContent = "This page needs the link from your order email to show the order.";
    app.append(
      el(
        "p",
        { "data-testid": "order-no-token" },
        "Open the link in the email we sent when you ordered (it works on any device), or open this page in the browser you ordered with.",
      ),
    );
    return;
  }
  for (;;) {
    const response = await fetch(`/v1/orders/${encodeURIComponent(id)}`, {
      headers: { Authorization: `Bearer ${token}` },
    }).catch(() => null);
    if (response?.ok) {
      const current = await response.json();
      const open = current.status === "pending_payment" && outcomes[current.payment.status];
      status.textContent = current.cancelledAt
        ? current.payment.status === "refunded"
          ? "Cancelled: your payment was refunded in full."
          : "Cancelled: your payment is being refunded in full."
        : open
          ? outcomes[current.payment.status]
          : outcomes[current.status];
      status.dataset.status = current.cancelledAt ? "cancelled" : current.status;
      status.dataset.payment = current.payment.status;
      if (current.payment.nextAction) offerAction(id, token, current.payment.nextAction);
      // The bank's question is answered (here, in another tab, or it expired): no button for it.
      if (current.payment.status !== "requires_action") withdrawAction();
      if (current.status !== "pending_payment") {
        app.append(...settled(current).filter(Boolean));
        return;
      }
    } else if (response?.status === 404) {
      // The shop answers the same for an unknown order and a wrong token.
      status.textContent =
        "This order could not be found. Check that you used the whole link from your order email.";
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** What the buyer's bank asks for, offered once per page: a challenge page, or Stripe.js's own. */
let offered = false;
let actionButton = null;
function withdrawAction() {
  actionButton?.remove();
  actionButton = null;
}

function offerAction(id, token, action) {
  if (offered) return;
  offered = true;
  if (action.type === "redirect_to_url") {
    actionButton = el(
      "a",
      { class: "button primary", href: action.url, "data-testid": "confirm-payment" },
      "Confirm the payment",
    );
    app.append(actionButton);
    return;
  }
  loadStripe()
    .then((stripe) => stripe.handleNextAction({ clientSecret: action.clientSecret }))
    .then((result) => {
      if (result.error) say(result.error.message ?? "The payment was not confirmed.", "error");
      // Whatever came of it, the shop asks Stripe now rather than waiting for its next look.
      return fetch(`/v1/orders/${encodeURIComponent(id)}/check-payment`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}` },
      });
    })
    .catch(() => say("Your bank's confirmation could not load. Check your connection and reload.", "error"));
}

// The payment simulator's challenge: what a bank's 3-D Secure page asks, without a bank.
export async function challenge() {
  const id = location.pathname.split("/")[3] ?? "";
  const found = await fetch(`/v1/simulator/challenges/${encodeURIComponent(id)}`).catch(() => null);
  if (!found?.ok) {
    render(el("h1", {}, "Confirm your payment"), el("p", {}, "This confirmation is not available."));
    return;
  }
  const payment = await found.json();
  // A draw entry's authorization has no order yet: its challenge goes back to the draw's page.
  const saved = String(readJson(CHALLENGE_RETURN_KEY, {})[id] ?? "");
  const home = /^\/products\/[^/]+$/.test(saved) ? saved : `/orders/${encodeURIComponent(payment.orderId)}`;
  const back = () => {
    const returns = readJson(CHALLENGE_RETURN_KEY, {});
    delete returns[id];
    localStorage.setItem(CHALLENGE_RETURN_KEY, JSON.stringify(returns));
    location.assign(home);
  };
  const answer = (result) => async (event) => {
    event.target.disabled = true;
    const response = await fetch(`/v1/simulator/challenges/${encodeURIComponent(id)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ result }),
    }).catch(() => null);
    if (response?.ok) back();
    else {
      event.target.disabled = false;
      say("Your answer did not reach the bank. Try again.", "error");
    }
  };
  const waiting = payment.status === "requires_action";
  render(
    el("h1", {}, "Confirm your payment"),
    el("p", { class: "muted" }, "Simulated 3-D Secure: this is where your bank would ask you to confirm."),
    el("p", { class: "total" }, "Amount ", money(payment.amount)),
    waiting
      ? el(
          "div",
          { class: "actions" },
          el(
            "button",
            { class: "primary", "data-testid": "challenge-pass", onclick: answer("pass") },
            "Confirm",
          ),
          el("button", { "data-testid": "challenge-fail", onclick: answer("fail") }, "Decline"),
        )
      : el("p", { "data-testid": "challenge-done" }, "This confirmation is already answered."),
    el(
      "p",
      {},
      el("a", { href: home }, home.startsWith("/orders/") ? "Back to your order" : "Back to the draw"),
    ),
  );
}
