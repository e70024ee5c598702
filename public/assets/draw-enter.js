// A draw's entry form on its product page: the buyer, the size, the shipping method and the total to
// be authorized (priced as the cart page prices, by POST /v1/quotes), the card as checkout takes it and
// the Turnstile widget when the shop asks for one; one Idempotency-Key per attempt, kept across a
// retry of that attempt and across the bank's 3-D Secure page, and every refusal said beside the form.
// Whatever the buyer typed is shown back as text (el() children), never as markup.
import {
  buyerFields,
  cardAmount,
  loadStripe,
  PAYMENTS,
  paymentFields,
  shippingAddress,
  stripeToken,
} from "./checkout-page.js";
import { pricingPanel } from "./checkout-pricing.js";
import { botCheck } from "./turnstile.js";
import { CHALLENGE_RETURN_KEY, el, money, readJson } from "./ui.js";

const ATTEMPT_KEY = "stampede.drawAttempt";
const TURNSTILE_KEY = document.body.dataset.turnstileKey ?? "";

const at = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** What each refusal of an entry means for the buyer, by the problem's code. */
const REFUSALS = {
  payment_declined: () =>
    "Your card was declined, so you are not entered and nothing is held on it. Try another card.",
  draw_not_open: (problem) =>
    problem.opensAt
      ? `Entries are not open yet: they open ${at(problem.opensAt)}.`
      : "Entries are not open yet.",
  draw_closed: (problem) =>
    problem.cancelledAt
      ? "This draw was cancelled; nobody was charged."
      : "Entries are closed: the draw is under way.",
  draw_already_entered: () => "This email already has an entry in this draw: one entry per person.",
  draw_card_used: () => "This card is already entered in this draw: one entry per card. Use another card.",
  draw_sku_not_drawn: () => "That size is not part of this draw. Pick one of the sizes listed.",
  payment_token_invalid: () => "This card cannot be used. Check its details, or use another card.",
  validation_failed: (problem) =>
    problem.errors?.some((error) => error.path === "shipping.method")
      ? "Choose a shipping method for your address."
      : "Some details are missing or not valid: see the marked fields.",
  shipping_unavailable: () =>
    "This shop does not ship to that address, so you cannot enter with it. Enter an address it ships to.",
  amount_below_minimum: () => "This entry's total is too small for a card payment.",
  idempotency_key_mismatch: () => "Your details changed during the attempt. Press Enter the draw again.",
  turnstile_required: () => "The security check is not done yet. Press Enter the draw once it is.",
  turnstile_failed: () =>
    "The security check was not accepted, so it is running again. Press Enter the draw once it is done.",
  rate_limited: () => "Too many tries from here just now. Wait a minute, then press Enter the draw again.",
  service_unavailable: () =>
    "The shop could not finish your entry just now. Press Enter the draw again: it carries on the same entry, never a second one.",
  payments_not_configured: () => "This shop is not taking entries right now.",
  draw_not_configured: () => "This shop is not taking entries right now.",
  draw_not_found: () => "This draw is no longer available.",
};

const refusalOf = (status, problem) =>
  REFUSALS[problem.code]?.(problem) ??
  (status >= 500 ? REFUSALS.service_unavailable() : "Your entry could not be made. Try again in a moment.");

/** Refusals that end the attempt: pressing again (with other details, or another card) is a new one. */
const ENDS_ATTEMPT = new Set([
  "payment_declined",
  "draw_closed",
  "draw_already_entered",
  "draw_card_used",
  "draw_sku_not_drawn",
  "payment_token_invalid",
  "validation_failed",
  "shipping_unavailable",
  "amount_below_minimum",
  "idempotency_key_mismatch",
]);

const attempts = () => readJson(ATTEMPT_KEY, {});
function saveAttempt(productId, attempt) {
  const all = attempts();
  if (attempt) all[productId] = attempt;
  else delete all[productId];
  localStorage.setItem(ATTEMPT_KEY, JSON.stringify(all));
}

/** The same attempt while the details are the same (a retry, a double click); else a new key. */
function attemptFor(productId, fingerprint) {
  const saved = attempts()[productId];
  if (saved?.fingerprint === fingerprint) return saved;
  const attempt = { fingerprint, key: crypto.randomUUID() };
  saveAttempt(productId, attempt);
  return attempt;
}

/** The form field an error's path names, where its name differs from the API's. */
const FIELD_OF = { paymentToken: "payment", method: "shippingMethod" };

/** A problem's field errors, each under the input it names (`shippingAddress.city` is `city`). */
function markFields(form, errors = []) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const error of errors) {
    const last = String(error.path ?? "")
      .split(".")
      .pop();
    const named = form.elements.namedItem(FIELD_OF[last] ?? last);
    // A group of radios (the shipping methods) is marked after the list that holds them.
    const input = named?.after ? named : named?.[named.length - 1]?.closest("label")?.parentElement;
    if (!input?.after) continue;
    input.after(el("small", { class: "field-error", "data-testid": "field-error" }, error.message ?? ""));
  }
}

/**
 * The entry form for `item`'s draw. `onEntered({ entry, entryToken })` is called once the entry is
 * in; `onCancelled(cancelledAt)` when the draw turns out to have been cancelled since the page was
 * loaded. An attempt waiting on the bank's 3-D Secure page when this page opens is sent again by itself.
 */
export function entryForm(item, { onEntered, onCancelled }) {
  const sizes = item.variants.filter((variant) => item.draw.units[variant.sku]);
  const ships = item.requiresShipping !== false;
  const refusal = el("p", { class: "refusal", role: "alert", "data-testid": "draw-refusal" });
  const refuse = (message, tone = "error") => {
    refusal.textContent = message;
    refusal.dataset.tone = tone;
  };
  const button = el(
    "button",
    { type: "submit", class: "primary", "data-testid": "draw-enter", disabled: PAYMENTS === "off" },
    "Enter the draw",
  );
  let resume = null;
  let ready = false;
  const check = TURNSTILE_KEY
    ? botCheck({
        sitekey: TURNSTILE_KEY,
        onReady: (now) => {
          ready = now;
          button.disabled = !now;
          if (now && resume) resume();
        },
        onProblem: (message) => refuse(message, "warn"),
      })
    : null;
  if (check) button.disabled = true;
  const size = el(
    "select",
    { id: "sku", name: "sku", required: true, "data-testid": "draw-size" },
    sizes.map((variant) =>
      el("option", { value: variant.sku }, `${variant.title} · ${money(variant.price)}`),
    ),
  );
  const first = sizes[0]?.price ?? item.variants[0].price;
  // One unit of the size chosen, priced as a cart of it is: shipping to the address, tax, no code.
  const lineOf = (sku) => {
    const variant = sizes.find((one) => one.sku === sku) ?? sizes[0] ?? item.variants[0];
    return { sku: variant.sku, quantity: 1, price: variant.price, ships };
  };
  const pricing = pricingPanel([lineOf(sizes[0]?.sku)], {
    codes: false,
    heading: "To be authorized",
    onTotal: (total) => cardAmount(total.amount),
  });
  size.addEventListener("change", () => pricing.setLines([lineOf(size.value)]));
  const form = el(
    "form",
    { class: "checkout", "data-testid": "draw-form", onsubmit: (event) => submit(event) },
    el("label", { for: "email" }, "Email"),
    el("input", {
      id: "email",
      name: "email",
      type: "email",
      required: true,
      autocomplete: "email",
      maxlength: 254,
      "data-testid": "draw-email",
    }),
    el("label", { for: "sku" }, "Size"),
    size,
    ...buyerFields(ships),
    ...pricing.nodes,
    ...paymentFields(first),
    el(
      "p",
      { class: "muted" },
      "Your card is authorized for the total above now and charged only if you win; otherwise the authorization is released.",
    ),
    check?.element,
    refusal,
    button,
  );

  async function send(attempt) {
    for (let n = 1; n <= 5; n++) {
      const turnstileToken = check?.take();
      if (check && !turnstileToken) {
        refuse("Wait for the security check to finish, then press Enter the draw again.", "warn");
        return;
      }
      refuse("Sending your entry…", "info");
      let response;
      try {
        response = await fetch(`/v1/drops/${encodeURIComponent(item.id)}/draw/entries`, {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": attempt.key },
          body: JSON.stringify({ ...attempt.request, ...(turnstileToken ? { turnstileToken } : {}) }),
        });
      } catch {
        refuse("The network failed. You are not entered twice: press Enter the draw to try again.");
        return;
      }
      const answer = await response.json().catch(() => ({}));
      if (response.status === 200 || response.status === 201) {
        saveAttempt(item.id, null);
        refuse("", "info");
        onEntered(answer);
        return;
      }
      if (response.status === 202) {
        saveAttempt(item.id, { ...attempt, action: answer.action });
        if (!(await confirmWithBank(answer.action))) return;
        continue;
      }
      const busy = response.status === 429 || response.status === 503;
      if (busy && !check && n < 5) {
        const wait = Math.min(Number(response.headers.get("Retry-After")) || 2, 30);
        refuse(`The shop is busy. Trying again in ${wait} s…`, "warn");
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
        continue;
      }
      if (ENDS_ATTEMPT.has(answer.code)) saveAttempt(item.id, null);
      // The draw was cancelled since this page was loaded: the page shows it as such.
      if (answer.code === "draw_closed" && answer.cancelledAt && onCancelled)
        return onCancelled(answer.cancelledAt);
      markFields(form, answer.errors);
      refuse(refusalOf(response.status, answer));
      return;
    }
  }

  /**
   * What the bank asks (3-D Secure): the simulator's page, which brings the buyer back here to send
   * the same attempt again (false: this page is left), or Stripe.js's own dialog (true: send again).
   */
  async function confirmWithBank(action) {
    if (action?.type === "redirect_to_url" && action.url) {
      const challenge = new URL(action.url, location.href);
      const returns = readJson(CHALLENGE_RETURN_KEY, {});
      returns[challenge.pathname.split("/").pop()] = location.pathname;
      localStorage.setItem(CHALLENGE_RETURN_KEY, JSON.stringify(returns));
      refuse("Your bank asks you to confirm the authorization: taking you there…", "info");
      location.assign(challenge.href);
      return false;
    }
    try {
      const stripe = await loadStripe();
      const result = await stripe.handleNextAction({ clientSecret: action.clientSecret });
      if (result.error) refuse(result.error.message ?? "Your bank did not confirm the card.", "warn");
    } catch {
      refuse("Your bank's confirmation could not load. Press Enter the draw to try again.");
      return false;
    }
    return true;
  }

  let sending = false;
  async function submit(event) {
    event.preventDefault();
    if (sending) return;
    sending = true;
    button.disabled = true;
    try {
      const data = new FormData(form);
      const name = String(data.get("name") ?? "").trim();
      const address = shippingAddress(data, name);
      const request = {
        email: String(data.get("email")).trim(),
        ...(name ? { name } : {}),
        sku: String(data.get("sku")),
        ...(address ? { shippingAddress: address } : {}),
        // The method chosen where the shop offers methods for the address (no discount code: draws take none).
        ...pricing.order(),
      };
      // With Stripe a retry sends the card token made the first time; a test card is part of the attempt.
      const card = PAYMENTS === "stripe" ? null : String(data.get("payment"));
      const attempt = attemptFor(item.id, JSON.stringify({ ...request, card }));
      let paymentToken = attempt.request?.paymentToken ?? card;
      if (!paymentToken) {
        const made = await stripeToken();
        if (made.error) return refuse(made.error);
        paymentToken = made.token;
      }
      const sent = { ...attempt, request: { ...request, paymentToken } };
      saveAttempt(item.id, sent);
      await send(sent);
    } finally {
      sending = false;
      button.disabled = PAYMENTS === "off" || (check ? !ready : false);
    }
  }

  pricing.watch(form);

  // Back from the bank's page: the same attempt again, once a security check (if any) is ready.
  const waiting = attempts()[item.id];
  if (waiting?.action && waiting.request) {
    resume = () => {
      resume = null;
      send(waiting);
    };
    if (!check) queueMicrotask(resume);
  }
  return form;
}
