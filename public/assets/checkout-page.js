// The cart and checkout: the lines, the buyer, the card (the simulator's test cards, or Stripe
// Elements), and placing the order under one Idempotency-Key per attempt.
import { pricingPanel } from "./checkout-pricing.js";
import { dropPass } from "./drop-queue.js";
import { cart, el, money, ORDERS_KEY, readJson, render, say } from "./ui.js";

const ATTEMPT_KEY = "stampede.checkoutAttempt";

export function cartPage() {
  const lines = cart.lines();
  if (lines.length === 0) {
    render(
      el("h1", {}, "Your cart"),
      el("p", {}, "Your cart is empty. ", el("a", { href: "/" }, "Browse products")),
    );
    return;
  }
  const total = lines.reduce((sum, line) => sum + line.quantity * line.price.amount, 0);
  // With Stripe, the card form is told the total to confirm as it changes.
  const panel = pricingPanel(lines, {
    onTotal: (amount) => cardForm?.elements.update({ amount: amount.amount }),
    code: pricing?.code(),
  });
  pricing = panel;
  const rows = lines.map((line, index) =>
    el(
      "li",
      {},
      el("span", {}, line.title),
      el("label", { for: `qty-${index}`, class: "sr-only" }, `Quantity of ${line.title}`),
      el("input", {
        id: `qty-${index}`,
        type: "number",
        min: 1,
        max: 10,
        value: line.quantity,
        onchange: (event) => {
          const next = cart.lines();
          const quantity = Math.max(1, Math.min(10, Number(event.target.value) || 1));
          // The input leaving the page as it is drawn again fires change once more: nothing changed.
          if (next[index].quantity === quantity) return;
          next[index].quantity = quantity;
          cart.save(next);
          cartPage();
        },
      }),
      el("span", {}, money({ amount: line.quantity * line.price.amount, currency: line.price.currency })),
      el(
        "button",
        {
          type: "button",
          onclick: () => {
            cart.save(cart.lines().filter((_, i) => i !== index));
            cartPage();
          },
        },
        "Remove",
      ),
    ),
  );
  const form = el(
    "form",
    { class: "checkout", onsubmit: placeOrder },
    el("label", { for: "email" }, "Email"),
    el("input", {
      id: "email",
      name: "email",
      type: "email",
      required: true,
      autocomplete: "email",
      "data-testid": "checkout-email",
      // A drop's pass is bound to the email it was issued to.
      value: dropPass(lines)?.email,
    }),
    ...buyerFields(lines.some((line) => line.ships !== false)),
    ...pricing.nodes,
    ...paymentFields({ amount: total, currency: lines[0].price.currency }),
    el(
      "button",
      { type: "submit", class: "primary", "data-testid": "place-order", disabled: PAYMENTS === "off" },
      "Place order",
    ),
  );
  render(el("h1", {}, "Your cart"), el("ul", { class: "lines" }, rows), form);
  panel.watch(form);
}

/** The code, shipping choice and totals of the cart shown (see checkout-pricing.js). */
let pricing = null;

const text = (label, name, autocomplete, attributes = {}) => [
  el("label", { for: name }, label),
  el("input", { id: name, name, autocomplete, "data-testid": `checkout-${name}`, ...attributes }),
];

/** The buyer's name, and where to ship when anything in the cart ships (then each line is required). */
export function buyerFields(ships) {
  const name = text("Full name", "name", "name", { required: ships, maxlength: 200 });
  if (!ships) return name;
  return [
    ...name,
    el(
      "fieldset",
      { class: "address", "data-testid": "shipping-address" },
      el("legend", {}, "Shipping address"),
      ...text("Address", "line1", "address-line1", { required: true, maxlength: 200 }),
      ...text("Apartment, suite (optional)", "line2", "address-line2", { maxlength: 200 }),
      ...text("City", "city", "address-level2", { required: true, maxlength: 100 }),
      ...text("State or region (optional)", "region", "address-level1", { maxlength: 100 }),
      ...text("Postal code", "postalCode", "postal-code", { required: true, maxlength: 20 }),
      ...text("Country (2-letter code, e.g. US)", "country", "country", {
        required: true,
        minlength: 2,
        maxlength: 2,
        pattern: "[A-Za-z]{2}",
        autocapitalize: "characters",
      }),
    ),
  ];
}

/** The address as the API takes it (empty optional lines left out), or none when nothing ships. */
export function shippingAddress(form, name) {
  if (!form.has("line1")) return null;
  const value = (field) => String(form.get(field) ?? "").trim();
  const address = {
    ...(name ? { name } : {}),
    line1: value("line1"),
    line2: value("line2"),
    city: value("city"),
    region: value("region"),
    postalCode: value("postalCode"),
    country: value("country").toUpperCase(),
  };
  for (const optional of ["line2", "region"]) if (!address[optional]) delete address[optional];
  return address;
}

/** How this deployment pays (set by the worker on the page): test cards only with the simulator. */
export const PAYMENTS = document.body.dataset.payments ?? "off";
const STRIPE_KEY = document.body.dataset.stripeKey ?? "";

/** Stripe.js, loaded from Stripe (as Stripe requires) only on the pages that take or confirm a card. */
let stripeJs = null;
export function loadStripe() {
  stripeJs ??= new Promise((resolve, reject) => {
    if (window.Stripe) return resolve(window.Stripe(STRIPE_KEY));
    const script = el("script", {
      src: "https://js.stripe.com/v3/",
      onload: () => (window.Stripe ? resolve(window.Stripe(STRIPE_KEY)) : reject(new Error("no Stripe"))),
      onerror: () => reject(new Error("Stripe.js did not load")),
    });
    document.head.append(script);
  });
  stripeJs.catch(() => {
    stripeJs = null;
  });
  return stripeJs;
}

/** The card form (Stripe Elements' Payment Element), once mounted: it makes the ConfirmationToken. */
let cardForm = null;

function stripeFields(total) {
  const mount = el(
    "div",
    { id: "card-element", class: "card-element", "data-testid": "stripe-card" },
    el("p", { class: "muted" }, "Loading the card form…"),
  );
  cardForm = null;
  loadStripe()
    .then((stripe) => {
      // Deferred intent: the card is collected here and confirmed by the shop's server, which
      // creates the PaymentIntent when the order is paid.
      const elements = stripe.elements({
        mode: "payment",
        amount: pricing?.shownTotal() ?? total.amount,
        currency: total.currency.toLowerCase(),
        paymentMethodCreation: "manual",
        paymentMethodTypes: ["card"],
      });
      mount.replaceChildren();
      elements.create("payment").mount(mount);
      cardForm = { stripe, elements };
    })
    .catch(() => {
      mount.textContent = "The card form could not load. Check your connection and reload.";
    });
  return [el("label", { for: "card-element" }, "Card"), mount];
}

/** The amount the card form confirms (Stripe), as another page's total changes (a draw's entry). */
export function cardAmount(amount) {
  cardForm?.elements.update({ amount });
}

/** The Stripe ConfirmationToken for the card entered, or a message to show the buyer instead. */
export async function stripeToken() {
  if (!cardForm) return { error: "The card form is still loading." };
  const submitted = await cardForm.elements.submit();
  if (submitted.error) return { error: submitted.error.message };
  const made = await cardForm.stripe.createConfirmationToken({ elements: cardForm.elements });
  if (made.error) return { error: made.error.message };
  return { token: made.confirmationToken.id };
}

export function paymentFields(total) {
  if (PAYMENTS === "simulated") {
    return [
      el("label", { for: "payment" }, "Payment (test card)"),
      el("p", { class: "muted" }, "This shop runs the payment simulator: no money is taken."),
      el(
        "select",
        { id: "payment", name: "payment" },
        el("option", { value: "tok_ok" }, "Card that pays"),
        el("option", { value: "tok_declined" }, "Card that is declined"),
        el("option", { value: "tok_flaky" }, "Gateway that fails twice, then pays"),
        el("option", { value: "tok_timeout_after_charge" }, "Gateway that times out after charging"),
        el("option", { value: "tok_down" }, "Gateway that is down"),
        el("option", { value: "tok_3ds" }, "Card that asks for 3-D Secure"),
        el("option", { value: "tok_3ds_fail" }, "Card that fails 3-D Secure"),
        el("option", { value: "tok_processing" }, "Payment that settles a moment later"),
      ),
    ];
  }
  if (PAYMENTS === "stripe") return stripeFields(total);
  return [
    el(
      "p",
      { class: "notice-inline", "data-testid": "payments-off" },
      "This shop is not taking payments yet.",
    ),
  ];
}

/**
 * One Idempotency-Key per attempt at this exact cart and form, kept until the attempt ends: a
 * double click or a retry after a network error sends the same key, so it can never make two orders.
 */
function attemptKey(body) {
  const fingerprint = JSON.stringify(body);
  const saved = readJson(ATTEMPT_KEY, null);
  if (saved?.fingerprint === fingerprint) return saved;
  const attempt = { fingerprint, key: crypto.randomUUID() };
  localStorage.setItem(ATTEMPT_KEY, JSON.stringify(attempt));
  return attempt;
}

let placing = false;
async function placeOrder(event) {
  event.preventDefault();
  if (placing) return;
  placing = true;
  const button = event.target.querySelector("[data-testid=place-order]");
  button.disabled = true;
  const form = new FormData(event.target);
  const pass = dropPass(cart.lines());
  const name = String(form.get("name") ?? "").trim();
  const address = shippingAddress(form, name);
  const order = {
    items: cart.lines().map(({ sku, quantity }) => ({ sku, quantity })),
    customer: { email: String(form.get("email")), ...(name ? { name } : {}) },
    ...(address ? { shippingAddress: address } : {}),
    ...pricing.order(),
    ...(pass ? { admission: { pass: pass.pass } } : {}),
  };
  try {
    // With Stripe, a retry of the same attempt sends the card's token made the first time, so the
    // body (and its key) stay the same; the simulator's test card is part of the attempt itself.
    const attempt = attemptKey(PAYMENTS === "stripe" ? order : { ...order, token: form.get("payment") });
    let token = attempt.token ?? String(form.get("payment"));
    if (PAYMENTS === "stripe" && !attempt.token) {
      const made = await stripeToken();
      if (made.error) {
        say(made.error, "error");
        return;
      }
      token = made.token;
      localStorage.setItem(ATTEMPT_KEY, JSON.stringify({ ...attempt, token }));
    }
    const key = attempt.key;
    const body = { ...order, payment: { token } };
    for (let attempt = 1; attempt <= 5; attempt++) {
      let response;
      try {
        response = await fetch("/v1/checkout", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": key },
          body: JSON.stringify(body),
        });
      } catch {
        say("The network failed. Your order was not placed twice; press Place order to try again.", "error");
        return;
      }
      if (response.status === 202) {
        const accepted = await response.json();
        const orders = readJson(ORDERS_KEY, {});
        orders[accepted.orderId] = accepted.orderToken;
        localStorage.setItem(ORDERS_KEY, JSON.stringify(orders));
        localStorage.removeItem(ATTEMPT_KEY);
        cart.save([]);
        location.assign(`/orders/${accepted.orderId}`);
        return;
      }
      const problem = await response.json().catch(() => ({}));
      const codeRefused = pricing.refused(problem);
      if (codeRefused) {
        // The code is dropped and the totals shown again without it: pressing again is a new attempt.
        localStorage.removeItem(ATTEMPT_KEY);
        say(`${codeRefused} The order was not placed; check the new total and place it again.`, "error");
        return;
      }
      if (response.status === 409 && problem.code === "insufficient_stock") {
        const titles = new Map(cart.lines().map((line) => [line.sku, line.title]));
        const names = (problem.skus ?? [])
          .map((s) => `${titles.get(s.sku) ?? s.sku} (${s.available} left)`)
          .join(", ");
        say(`Sold out: ${names}. Adjust your cart and try again.`, "error");
        localStorage.removeItem(ATTEMPT_KEY);
        return;
      }
      if (response.status === 409 && problem.code !== "idempotency_key_in_use") {
        // A refusal (not started, over a limit) ends this attempt: pressing again is a new one.
        localStorage.removeItem(ATTEMPT_KEY);
        say(problem.detail ?? "The order could not be placed.", "error");
        return;
      }
      if (response.status === 429 || response.status === 503 || problem.code === "idempotency_key_in_use") {
        const wait = Math.min(Number(response.headers.get("Retry-After")) || 2, 30);
        say(`The shop is busy. Trying again in ${wait} s…`, "warn");
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
        continue;
      }
      say(problem.detail ?? "The order could not be placed.", "error");
      return;
    }
    say("The shop is still busy. Please try again in a minute.", "error");
  } finally {
    placing = false;
    button.disabled = false;
  }
}
