// The Stampede storefront: plain DOM over the public API. Pages: home, product, cart, order, and the
// payment simulator's 3-D Secure challenge.
import { dropPass, queuePanel } from "./drop-queue.js";
import { app, cart, el, getJson, money, readJson, render, say } from "./ui.js";

const ORDERS_KEY = "stampede.orders";
const ATTEMPT_KEY = "stampede.checkoutAttempt";

const availabilityText = { in_stock: "In stock", low_stock: "Low stock", sold_out: "Sold out" };

/**
 * A product's picture; where it cannot load, a designed placeholder (the title's initials on a tint)
 * instead of a broken-image icon.
 */
function picture(item, size) {
  const placeholder = () =>
    el(
      "span",
      {
        class: "placeholder",
        style: `width:${size}px;height:${size}px`,
        role: "img",
        "aria-label": item.title,
      },
      item.title
        .split(/\s+/)
        .slice(0, 2)
        .map((word) => word[0])
        .join(""),
    );
  if (!item.images?.[0]) return placeholder();
  const img = el("img", { src: item.images[0], alt: "", width: size, height: size, loading: "lazy" });
  img.addEventListener("error", () => img.replaceWith(placeholder()), { once: true });
  return img;
}

/** The featured product (a flash sale) with its live availability, refreshed while the page is open. */
async function featuredBanner(slug) {
  let item;
  try {
    item = await getJson(`/v1/products/${encodeURIComponent(slug)}`);
  } catch {
    return null;
  }
  const sku = item.variants[0].sku;
  const left = el("strong", { "data-testid": "featured-available" }, "…");
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const stock = await getJson(`/v1/inventory/${encodeURIComponent(sku)}`);
      left.textContent = stock.status === "sold_out" ? "Sold out" : `${stock.available} left`;
      left.dataset.status = stock.status;
    } catch {
      left.textContent = "";
    }
  };
  refresh();
  setInterval(refresh, 5000);
  return el(
    "a",
    { class: "featured", href: `/products/${item.slug}`, "data-testid": "featured" },
    picture(item, 120),
    el(
      "span",
      { class: "featured-text" },
      el("span", { class: "badge" }, "Flash sale"),
      el("span", { class: "featured-title" }, item.title),
      el("span", {}, money(item.variants[0].price), " · ", left),
    ),
  );
}

// Home: products with a category filter and pagination.
/** One price for a product: its only one, or "from" the lowest when its variants differ. */
function fromPrice(product) {
  const prices = product.variants.map((v) => v.price.amount);
  const lowest = product.variants[prices.indexOf(Math.min(...prices))].price;
  return new Set(prices).size > 1 ? `from ${money(lowest)}` : money(lowest);
}

async function home() {
  const params = new URLSearchParams(location.search);
  const category = params.get("category") ?? "";
  const cursor = params.get("cursor");
  const query = new URLSearchParams({
    limit: "12",
    ...(category ? { category } : {}),
    ...(cursor ? { cursor } : {}),
  });
  const featured = document.body.dataset.featured;
  const [page, all, banner] = await Promise.all([
    getJson(`/v1/products?${query}`),
    getJson("/v1/products?limit=100"),
    featured && !category && !cursor ? featuredBanner(featured) : null,
  ]);
  const categories = [...new Set(all.items.map((p) => p.category))].sort();
  const filter = el(
    "form",
    { class: "filter", method: "get", action: "/" },
    el("label", { for: "category" }, "Category "),
    el(
      "select",
      { id: "category", name: "category", onchange: (event) => event.target.form.submit() },
      el("option", { value: "" }, "All"),
      categories.map((name) => el("option", { value: name, selected: name === category }, name)),
    ),
    el("noscript", {}, el("button", { type: "submit" }, "Filter")),
  );
  const grid = el(
    "ul",
    { class: "grid" },
    page.items.map((product) =>
      el(
        "li",
        { "data-testid": "product-card" },
        // The whole card opens the product.
        el(
          "a",
          { class: "card", href: `/products/${product.slug}` },
          picture(product, 160),
          el("h2", {}, product.title),
          el("p", { class: "price" }, fromPrice(product)),
          el("p", { class: "muted" }, product.category),
        ),
      ),
    ),
  );
  const nav = el("nav", { class: "pager", "aria-label": "Pages" });
  if (cursor) nav.append(el("button", { type: "button", onclick: () => history.back() }, "← Previous"));
  if (page.nextCursor) {
    const next = new URLSearchParams({ ...(category ? { category } : {}), cursor: page.nextCursor });
    nav.append(el("a", { href: `/?${next}` }, "Next →"));
  }
  render(banner, el("h1", {}, "Products"), filter, grid, nav);
}

// Product: variants, price and live availability.
async function product() {
  const slug = decodeURIComponent(location.pathname.split("/")[2] ?? "");
  let item;
  try {
    item = await getJson(`/v1/products/${encodeURIComponent(slug)}`);
  } catch (error) {
    render(
      el(
        "h1",
        {},
        error.status === 404 ? "This product is not available" : "The shop could not load this product",
      ),
    );
    return;
  }
  document.title = `${item.title} · Stampede`;
  let selected = item.variants[0];
  const status = el(
    "p",
    { class: "availability", "data-testid": "availability", "aria-live": "polite" },
    "Checking stock…",
  );
  const add = el("button", { type: "button", "data-testid": "add-to-cart", class: "primary" }, "Add to cart");
  const price = el("p", { class: "price" }, money(selected.price));
  // A drop: a countdown to its start (the shop's clock is the judge: checkout refuses before it) and
  // its limit per order.
  const countdown = el("p", { class: "countdown", "data-testid": "countdown", "aria-live": "off" });
  const limit = el("p", { class: "muted", "data-testid": "purchase-limit" });
  const startsAt = () => Date.parse(selected.saleStartsAt ?? item.saleStartsAt ?? "") || 0;
  let soldOut = false;

  function showRules() {
    const left = startsAt() - Date.now();
    countdown.hidden = left <= 0;
    if (left > 0) {
      const s = Math.ceil(left / 1000);
      const parts = [
        Math.floor(s / 86400) && `${Math.floor(s / 86400)} d`,
        `${Math.floor((s % 86400) / 3600)} h`,
      ];
      parts.push(
        `${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`,
        `${String(s % 60).padStart(2, "0")} s`,
      );
      const at = new Date(startsAt()).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      countdown.textContent = `Sale starts in ${parts.filter(Boolean).join(" ")} (${at})`;
    }
    const max = selected.maxPerOrder ?? item.maxPerOrder;
    limit.hidden = !max;
    limit.textContent = max ? `Limit: ${max} per order` : "";
    add.disabled = soldOut || left > 0;
    add.textContent = soldOut ? "Sold out" : left > 0 ? "Not on sale yet" : "Add to cart";
  }

  async function refreshStock() {
    try {
      const stock = await getJson(`/v1/inventory/${encodeURIComponent(selected.sku)}`);
      status.textContent =
        availabilityText[stock.status] + (stock.status === "low_stock" ? ` (${stock.available} left)` : "");
      status.dataset.status = stock.status;
      soldOut = stock.status === "sold_out";
      showRules();
    } catch {
      status.textContent = "Stock unknown right now";
    }
  }
  add.addEventListener("click", () => {
    cart.add({
      sku: selected.sku,
      title: `${item.title} (${selected.title})`,
      price: selected.price,
      slug: item.slug,
    });
    say(`Added ${item.title} (${selected.title}) to your cart.`);
  });
  const samePrice = new Set(item.variants.map((v) => v.price.amount)).size === 1;
  const variants = el(
    "fieldset",
    { class: "variants" },
    el("legend", {}, "Choose a variant"),
    item.variants.map((variant, index) =>
      el(
        "label",
        {},
        el("input", {
          type: "radio",
          name: "variant",
          value: variant.sku,
          checked: index === 0,
          onchange: () => {
            selected = variant;
            price.textContent = money(variant.price);
            showRules();
            refreshStock();
          },
        }),
        // The price shows once, below; a variant names its own only where prices differ.
        samePrice ? ` ${variant.title}` : ` ${variant.title} · ${money(variant.price)}`,
      ),
    ),
  );
  render(
    el("h1", {}, item.title),
    picture(item, 320),
    el("p", {}, item.description),
    item.variants.length > 1 ? variants : null,
    price,
    countdown,
    status,
    limit,
    // A drop with a waiting room sells to those it admits: the queue takes the place of the button.
    item.waitingRoom ? queuePanel(item, () => selected) : add,
  );
  showRules();
  setInterval(showRules, 1000);
  await refreshStock();
  setInterval(refreshStock, 5000);
}

// Cart and checkout.
function cartPage() {
  const lines = cart.lines();
  if (lines.length === 0) {
    render(
      el("h1", {}, "Your cart"),
      el("p", {}, "Your cart is empty. ", el("a", { href: "/" }, "Browse products")),
    );
    return;
  }
  const total = lines.reduce((sum, line) => sum + line.quantity * line.price.amount, 0);
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
          next[index].quantity = Math.max(1, Math.min(10, Number(event.target.value) || 1));
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
    ...paymentFields({ amount: total, currency: lines[0].price.currency }),
    el(
      "button",
      { type: "submit", class: "primary", "data-testid": "place-order", disabled: PAYMENTS === "off" },
      "Place order",
    ),
  );
  render(
    el("h1", {}, "Your cart"),
    el("ul", { class: "lines" }, rows),
    el("p", { class: "total" }, "Total ", money({ amount: total, currency: lines[0].price.currency })),
    form,
  );
}

/** How this deployment pays (set by the worker on the page): test cards only with the simulator. */
const PAYMENTS = document.body.dataset.payments ?? "off";
const STRIPE_KEY = document.body.dataset.stripeKey ?? "";

/** Stripe.js, loaded from Stripe (as Stripe requires) only on the pages that take or confirm a card. */
let stripeJs = null;
function loadStripe() {
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
        amount: total.amount,
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

/** The Stripe ConfirmationToken for the card entered, or a message to show the buyer instead. */
async function stripeToken() {
  if (!cardForm) return { error: "The card form is still loading." };
  const submitted = await cardForm.elements.submit();
  if (submitted.error) return { error: submitted.error.message };
  const made = await cardForm.stripe.createConfirmationToken({ elements: cardForm.elements });
  if (made.error) return { error: made.error.message };
  return { token: made.confirmationToken.id };
}

function paymentFields(total) {
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
  const order = {
    items: cart.lines().map(({ sku, quantity }) => ({ sku, quantity })),
    customer: { email: String(form.get("email")) },
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

// Order: polls until the payment settles and says what happened; hands the buyer what their bank
// asks of them (3-D Secure) on the way.
const outcomes = {
  pending_payment: "Payment in progress…",
  requires_action: "Your bank asks you to confirm this payment.",
  processing: "Your payment is being processed…",
  paid: "Paid: your order is confirmed.",
  payment_failed: "Payment failed: nothing was charged and the items were released.",
  cancelled: "Cancelled.",
};

async function order() {
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
async function challenge() {
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

cart.save(cart.lines());
const pages = { home, product, cart: cartPage, order, challenge };
Promise.resolve()
  .then(() => pages[document.body.dataset.page]?.())
  .catch(() => say("The shop could not load. Check your connection and reload.", "error"));
