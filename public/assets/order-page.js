// The order page: polls until the payment settles and says what happened, handing the buyer what
// their bank asks of them (3-D Secure) on the way; and the payment simulator's challenge page.
import { loadStripe } from "./checkout-page.js";
import { app, el, money, ORDERS_KEY, readJson, render, say } from "./ui.js";

const outcomes = {
  pending_payment: "Payment in progress…",
  requires_action: "Your bank asks you to confirm this payment.",
  processing: "Your payment is being processed…",
  paid: "Paid: your order is confirmed.",
  payment_failed: "Payment failed: nothing was charged and the items were released.",
  cancelled: "Cancelled.",
};

export async function order() {
  const id = location.pathname.split("/")[2] ?? "";
  const token = readJson(ORDERS_KEY, {})[id];
  const status = el(
    "p",
    { class: "order-status", "data-testid": "order-status", "aria-live": "polite" },
    "Loading…",
  );
  render(el("h1", {}, "Your order"), el("p", { class: "muted" }, `Order ${id}`), status);
  if (!token) {
    status.textContent = "This order was placed on another device.";
    return;
  }
  for (;;) {
    const response = await fetch(`/v1/orders/${encodeURIComponent(id)}`, {
      headers: { Authorization: `Bearer ${token}` },
    }).catch(() => null);
    if (response?.ok) {
      const current = await response.json();
      const open = current.status === "pending_payment" && outcomes[current.payment.status];
      status.textContent = open ? outcomes[current.payment.status] : outcomes[current.status];
      status.dataset.status = current.status;
      status.dataset.payment = current.payment.status;
      if (current.payment.nextAction) offerAction(id, token, current.payment.nextAction);
      if (current.status !== "pending_payment") {
        app.append(
          el(
            "ul",
            { class: "lines" },
            current.items.map((item) =>
              el("li", {}, `${item.quantity} × ${item.title} · ${money(item.unitPrice)}`),
            ),
          ),
          el("p", { class: "total" }, "Total ", money(current.total)),
        );
        return;
      }
    } else if (response?.status === 404) {
      status.textContent = "This order could not be found.";
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** What the buyer's bank asks for, offered once per page: a challenge page, or Stripe.js's own. */
let offered = false;
function offerAction(id, token, action) {
  if (offered) return;
  offered = true;
  if (action.type === "redirect_to_url") {
    app.append(
      el(
        "a",
        { class: "button primary", href: action.url, "data-testid": "confirm-payment" },
        "Confirm the payment",
      ),
    );
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
  const back = () => location.assign(`/orders/${encodeURIComponent(payment.orderId)}`);
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
    el("p", {}, el("a", { href: `/orders/${encodeURIComponent(payment.orderId)}` }, "Back to your order")),
  );
}
