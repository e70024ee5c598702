// The checkout's prices before "Place order": a discount code, the shipping methods offered at the
// address, and the totals, as POST /v1/quotes prices them: the pricing checkout itself does, holding
// nothing. Whatever the buyer typed is shown back as text (el() children), never as markup.
import { el, money } from "./ui.js";

/** Why a code does not apply (the API's discount.reason), as the buyer reads it. */
const REASONS = {
  unknown: "We don't recognise this code. Check its spelling.",
  disabled: "This code is no longer valid.",
  not_started: "This code isn't valid yet.",
  expired: "This code has expired.",
  below_minimum: "Your cart doesn't reach this code's minimum spend.",
  no_matching_items: "This code doesn't apply to anything in your cart.",
  currency: "This code is for carts in another currency.",
  nothing_to_take: "This code takes nothing off this order (free shipping, on an order that pays none).",
  order_free: "This code would make the order free, which this shop can't accept.",
};

/** The buyer's sentence for a problem about a code, or null when the problem is about something else. */
function codeProblem(problem) {
  if (problem?.code === "discount_not_applicable") {
    return REASONS[problem.discount?.reason] ?? "This code can't be used on this order.";
  }
  if (problem?.code === "discount_exhausted") {
    return problem.discount?.limit === "per_customer"
      ? "You have already used this code as many times as it allows."
      : "This code has been used up.";
  }
  return null;
}

const row = (label, testid) => {
  const value = el("dd", { "data-testid": testid });
  const term = el("dt", {}, label);
  return { term, value, nodes: [term, value] };
};

/**
 * The code field, the shipping choice and the summary for a cart's lines. `watch(form)` follows the
 * address's country and region; `order()` is what the checkout body adds; `refused(problem)` takes a
 * checkout's refusal of the code (it is dropped, and the totals priced again without it). Without
 * `codes` (a draw's entry, which takes none) there is no code field; `setLines` prices other lines.
 */
export function pricingPanel(
  initialLines,
  { onTotal = () => {}, code = null, codes = true, heading = "Order summary" } = {},
) {
  let lines = initialLines;
  const ships = lines.some((line) => line.ships !== false);
  const currency = lines[0].price.currency;
  // A code carried over from the cart before it changed counts as applied until it is priced again.
  const state = { place: null, methods: [], method: null, code, quote: null };
  let asked = 0;
  let placeAsked = 0;
  let applying = 0;

  const codeInput = el("input", {
    id: "discount-code",
    name: "discountCode",
    autocomplete: "off",
    autocapitalize: "characters",
    spellcheck: "false",
    maxlength: 64,
    "aria-describedby": "discount-answer",
    "data-testid": "discount-code",
    // Enter applies the code; it must not place the order.
    onkeydown: (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      apply();
    },
  });
  const applyButton = el(
    "button",
    { type: "button", "data-testid": "apply-code", onclick: () => apply() },
    "Apply",
  );
  const removeButton = el(
    "button",
    { type: "button", hidden: true, "data-testid": "remove-code", onclick: () => remove() },
    "Remove code",
  );
  const answer = el("p", {
    id: "discount-answer",
    class: "code-answer",
    role: "status",
    "aria-live": "polite",
    "data-testid": "discount-answer",
  });
  const codeBox = el(
    "div",
    { class: "code" },
    el("label", { for: "discount-code" }, "Discount code"),
    el("div", { class: "code-row" }, codeInput, applyButton, removeButton),
    answer,
  );

  // Shown only where methods are offered: a cart with nothing that ships, or a shop with no
  // shipping zones, has nothing to choose.
  const methodsList = el("div", { class: "method-list" });
  const methodsBox = el(
    "fieldset",
    { class: "methods", "data-testid": "shipping-methods", hidden: true },
    el("legend", {}, "Shipping method"),
    methodsList,
  );
  const methodsNote = el("p", { class: "muted", "data-testid": "shipping-note", "aria-live": "polite" });

  const subtotal = row("Subtotal", "summary-subtotal");
  const discount = row("Discount", "summary-discount");
  const shipping = row("Shipping", "summary-shipping");
  const tax = row("Tax", "summary-tax");
  const total = row("Total", "summary-total");
  const status = el("p", { class: "muted", "data-testid": "summary-note" });
  const summary = el(
    "section",
    { class: "summary", "aria-labelledby": "summary-heading", "data-testid": "order-summary" },
    el("h2", { id: "summary-heading" }, heading),
    el("dl", {}, subtotal.nodes, discount.nodes, shipping.nodes, tax.nodes, total.nodes),
    status,
  );
  // The total is announced when it changes; the rows around it are read on demand.
  total.value.setAttribute("aria-live", "polite");

  function tell(text, tone = "info") {
    answer.textContent = text;
    answer.dataset.state = tone;
  }

  function show(quote) {
    state.quote = quote;
    const { totals } = quote;
    subtotal.value.textContent = money(totals.subtotal);
    const off = totals.discount.amount > 0 || quote.discountCode;
    discount.term.hidden = discount.value.hidden = !off;
    discount.term.textContent = quote.discountCode ? `Discount (${quote.discountCode})` : "Discount";
    discount.value.textContent = `−${money(totals.discount)}`;
    const pending = quote.shippingPending;
    shipping.term.hidden = shipping.value.hidden = !ships;
    shipping.value.textContent = pending
      ? state.place
        ? "Choose a method"
        : "Calculated from your address"
      : totals.shipping.amount === 0
        ? "Free"
        : money(totals.shipping);
    tax.term.textContent = totals.taxIncluded ? "Tax (included in prices)" : "Tax";
    tax.value.textContent = money(totals.tax);
    total.value.textContent = money(totals.total);
    total.value.dataset.amount = String(totals.total.amount);
    if (ships) {
      methodsNote.textContent = !pending
        ? ""
        : !state.place
          ? "Enter your address to see the shipping methods."
          : state.methods.length === 0
            ? "Shipping could not be looked up just now. Edit the address to try again."
            : "";
    }
    status.textContent = pending
      ? "Shipping, and any tax on it, are added once you enter your address and choose a method."
      : totals.taxIncluded
        ? "Prices include tax."
        : totals.tax.amount > 0
          ? "Tax is added to the prices shown."
          : "";
    summary.removeAttribute("aria-busy");
    onTotal(totals.total);
  }

  /** Asks for the totals with `code`; answers the quote, the problem, or null when a newer ask won. */
  async function priceWith(code) {
    const seq = ++asked;
    summary.setAttribute("aria-busy", "true");
    const body = {
      items: lines.map(({ sku, quantity }) => ({ sku, quantity })),
      ...(state.place ? { shipTo: state.place } : {}),
      ...(state.place && state.method ? { shipping: { method: state.method } } : {}),
      ...(code ? { discountCode: code } : {}),
    };
    let response;
    try {
      response = await fetch("/v1/quotes", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      response = null;
    }
    if (seq !== asked) return null;
    if (!response) return { problem: { code: "network" } };
    const payload = await response.json().catch(() => ({}));
    return response.ok ? { quote: payload } : { problem: payload };
  }

  function unpriced(problem) {
    summary.removeAttribute("aria-busy");
    total.value.textContent = "—";
    delete total.value.dataset.amount;
    if (problem.code === "shipping_unavailable") {
      const where = state.place?.region
        ? `${state.place.region}, ${state.place.country}`
        : state.place?.country;
      methodsNote.textContent = `This shop does not ship to ${where}.`;
      status.textContent = "Enter an address this shop ships to.";
    } else {
      status.textContent =
        "The totals could not be worked out just now; they are checked again when you place the order.";
    }
  }

  /** Prices the cart again (the address, method or code changed); a code that stopped applying is dropped. */
  async function refresh() {
    const result = await priceWith(state.code);
    if (!result) return;
    if (result.quote) {
      show(result.quote);
      // What the code takes off can change with the cart and the shipping: the answer follows.
      const applied = appliedText(result.quote);
      if (state.code && applied && answer.textContent !== applied) tell(applied, "applied");
      return;
    }
    const why = codeProblem(result.problem);
    if (why && state.code) {
      tell(`${state.code} was removed: ${why}`, "refused");
      forget();
      return refresh();
    }
    unpriced(result.problem);
  }

  function appliedText(quote) {
    if (!quote.discountCode) return null;
    const off = quote.totals.discount;
    return off.amount > 0
      ? `Code ${quote.discountCode} applied: ${money(off)} off.`
      : `Code ${quote.discountCode} applied: its saving shows once shipping is chosen.`;
  }

  async function apply() {
    const typed = codeInput.value.trim();
    if (!typed) {
      tell("Enter a code first.", "refused");
      return;
    }
    tell("Checking the code…", "pending");
    applyButton.disabled = true;
    const run = ++applying;
    const result = await priceWith(typed);
    applyButton.disabled = false;
    // The address or method changed meanwhile: asked again, with them (unless a newer apply did).
    if (!result) return run === applying ? apply() : undefined;
    if (result.quote) {
      state.code = typed;
      show(result.quote);
      tell(appliedText(result.quote), "applied");
      codeInput.readOnly = true;
      applyButton.hidden = true;
      removeButton.hidden = false;
      return;
    }
    const why = codeProblem(result.problem);
    if (why) {
      tell(why, "refused");
      forget();
      return refresh();
    }
    tell(
      result.problem.code === "rate_limited"
        ? "Too many tries. Wait a few seconds and apply the code again."
        : "The code could not be checked just now. Try again in a moment.",
      "refused",
    );
  }

  function forget() {
    state.code = null;
    codeInput.readOnly = false;
    applyButton.hidden = false;
    removeButton.hidden = true;
  }

  function remove() {
    forget();
    codeInput.value = "";
    tell("Code removed.", "info");
    codeInput.focus();
    refresh();
  }

  function renderMethods() {
    methodsList.replaceChildren(
      ...state.methods.map((method) =>
        el(
          "label",
          { class: "method" },
          el("input", {
            type: "radio",
            name: "shippingMethod",
            value: method.id,
            checked: method.id === state.method,
            "data-testid": `shipping-${method.id}`,
            onchange: () => {
              state.method = method.id;
              refresh();
            },
          }),
          el("span", {}, method.name),
          el("span", { class: "price" }, method.price.amount === 0 ? "Free" : money(method.price)),
        ),
      ),
    );
  }

  /** The address's country and region changed: the methods offered there, then the totals. */
  async function placeChanged(country, region) {
    const valid = /^[A-Za-z]{2}$/.test(country);
    const place = valid ? { country: country.toUpperCase(), ...(region ? { region } : {}) } : null;
    if (JSON.stringify(place) === JSON.stringify(state.place)) return;
    state.place = place;
    const seq = ++placeAsked;
    methodsNote.textContent = "";
    state.methods = [];
    if (place && ships) {
      methodsNote.textContent = "Looking up shipping…";
      const query = new URLSearchParams({
        country: place.country,
        ...(place.region ? { region: place.region } : {}),
        items: lines.map((line) => `${line.sku}:${line.quantity}`).join(","),
      });
      const response = await fetch(`/v1/shipping-methods?${query}`).catch(() => null);
      if (seq !== placeAsked) return;
      const found = response?.ok ? await response.json().catch(() => null) : null;
      state.methods = found?.methods ?? [];
      if (!found) methodsNote.textContent = "Shipping could not be looked up just now.";
    }
    // The method chosen stays chosen where it is offered; otherwise the first offered.
    if (!state.methods.some((method) => method.id === state.method))
      state.method = state.methods[0]?.id ?? null;
    renderMethods();
    methodsBox.hidden = state.methods.length === 0;
    await refresh();
  }

  function watch(form) {
    let timer;
    const read = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const value = (name) => String(form.elements.namedItem(name)?.value ?? "").trim();
        placeChanged(value("country"), value("region"));
      }, 250);
    };
    form.elements.namedItem("country")?.addEventListener("input", read);
    form.elements.namedItem("region")?.addEventListener("input", read);
    // A code applied before the cart changed is applied again to the new cart.
    if (code) {
      codeInput.value = code;
      return apply();
    }
    // The first totals, before anything is typed: the lines, at the shop's current prices.
    subtotal.value.textContent = money({
      amount: lines.reduce((sum, line) => sum + line.quantity * line.price.amount, 0),
      currency,
    });
    refresh();
  }

  return {
    nodes: codes ? [methodsBox, methodsNote, codeBox, summary] : [methodsBox, methodsNote, summary],
    watch,
    /** Other lines (of the same currency): the methods offered and the totals looked up again for them. */
    setLines(next) {
      lines = next;
      const place = state.place;
      if (!place) return refresh();
      state.place = null;
      return placeChanged(place.country, place.region ?? "");
    },
    /** What the checkout body adds: the method chosen (where methods are offered) and the code applied. */
    order: () => ({
      ...(state.method && state.methods.some((method) => method.id === state.method)
        ? { shipping: { method: state.method } }
        : {}),
      ...(state.code ? { discountCode: state.code } : {}),
    }),
    /** Checkout refused the code: says why, drops it, prices again; answers the sentence, or null. */
    refused(problem) {
      const why = codeProblem(problem);
      if (!why) return null;
      tell(why, "refused");
      forget();
      refresh();
      return why;
    },
    /** The code applied, to apply again when the cart changes. */
    code: () => state.code,
    /** The total the page shows (minor units), or null while it is not known. */
    shownTotal: () => (total.value.dataset.amount ? Number(total.value.dataset.amount) : null),
  };
}
