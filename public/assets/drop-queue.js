// A drop's waiting room on its product page: joining (with the Turnstile widget when the shop asks
// for it), the place in line as often as the room says, and the pass the cart's checkout sends.
import { botCheck } from "./turnstile.js";
import { cart, el, readJson, say } from "./ui.js";

const TICKETS_KEY = "stampede.dropTickets";
const PASSES_KEY = "stampede.dropPasses";

/** Minutes and seconds, roughly, for a wait. */
const roughly = (seconds) => (seconds < 90 ? `${seconds} s` : `${Math.round(seconds / 60)} min`);

/** The site key of the Turnstile widget, set by the worker when joining a queue needs its token. */
const TURNSTILE_KEY = document.body.dataset.turnstileKey ?? "";

/** The wait before the next status poll: as long as the room asks (1 to 60 s), else 2 s. */
function pollDelay(status) {
  const seconds = status.pollAfterSeconds;
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return 2000;
  return Math.min(Math.max(seconds, 1), 60) * 1000;
}

/**
 * What to tell a buyer whose join with a Turnstile token failed, and in which tone. The token went
 * with the attempt, so the widget is already checking again for the next one.
 */
function refusedWithBotCheck(response, problem) {
  const then = "once the security check is done again";
  if (!response) return [`The network failed before the shop answered. Join again ${then}.`, "error"];
  if (problem.code === "turnstile_failed") {
    return ["The security check was not accepted, so it is running again. Join once it is done.", "error"];
  }
  if (response.status === 503) {
    const wait = Math.min(Number(response.headers.get("Retry-After")) || 2, 60);
    return [`The queue cannot be joined right now. Try again in ${wait} s, ${then}.`, "warn"];
  }
  return [`${problem.detail ?? "The queue could not be joined."} Try again ${then}.`, "error"];
}

/**
 * A drop's waiting room on its product page: join with an email (and the Turnstile widget's token
 * when the shop asks for one), then the place in line, the wait and the units left, refreshed as
 * often as the room says (every 2 s unless it says otherwise); once admitted, the chosen variant
 * goes to the cart with the pass and the buyer goes straight to checkout.
 */
export function queuePanel(item, selectedVariant) {
  const panel = el("div", { class: "queue", "data-testid": "queue" });
  const show = (...nodes) => panel.replaceChildren(...nodes);
  const tickets = () => readJson(TICKETS_KEY, {});
  const line = (text) => el("p", { "data-testid": "queue-status", "aria-live": "polite" }, text);

  async function poll(ticket, email) {
    for (;;) {
      const response = await fetch(`/v1/drops/${encodeURIComponent(item.id)}/status`, {
        headers: { Authorization: `Bearer ${ticket}` },
      }).catch(() => null);
      let delay = 2000;
      if (response?.ok) {
        const status = await response.json();
        delay = pollDelay(status);
        if (status.state === "admitted") {
          const passes = readJson(PASSES_KEY, {});
          passes[item.id] = { pass: status.pass, email };
          localStorage.setItem(PASSES_KEY, JSON.stringify(passes));
          const variant = selectedVariant();
          cart.add({
            sku: variant.sku,
            title: `${item.title} (${variant.title})`,
            price: variant.price,
            slug: item.slug,
            productId: item.id,
          });
          location.assign("/cart");
          return;
        }
        if (status.state === "sold_out") return show(line("Sold out: every unit has been sold."));
        if (status.state === "expired") {
          const saved = tickets();
          delete saved[item.id];
          localStorage.setItem(TICKETS_KEY, JSON.stringify(saved));
          return show(line("Your turn passed without an order. Join again for a new place."), joinForm());
        }
        show(
          line(
            status.state === "not_started"
              ? `You are in the line. At the start, everyone who joined before it is shuffled: coming early does not put you ahead. Place so far: ${status.position}.`
              : `Your place: ${status.position}. About ${roughly(status.etaSeconds)} to go; ${status.unitsLeft} left.${status.likelySoldOut ? " More people are ahead of you than there are units left: it will probably sell out first." : ""}`,
          ),
        );
      } else if (response && (response.status === 429 || response.status >= 500)) {
        // Busy or briefly down: keep the place and ask again when the shop says.
        const retryAfter = Number(response.headers.get("Retry-After"));
        delay = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 60) * 1000 : 5000;
        show(line("The queue is busy; your place is kept. Checking again shortly."));
      } else if (response) {
        return show(line("This queue is not available right now."));
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  function joinForm() {
    const email = el("input", {
      type: "email",
      required: true,
      autocomplete: "email",
      "data-testid": "queue-email",
    });
    // With Turnstile, the button waits for the widget's token; each join uses one up.
    const join = el(
      "button",
      { type: "submit", class: "primary", "data-testid": "queue-join", disabled: Boolean(TURNSTILE_KEY) },
      "Join the queue",
    );
    const check = TURNSTILE_KEY
      ? botCheck({
          sitekey: TURNSTILE_KEY,
          onReady: (ready) => {
            join.disabled = !ready;
          },
          onProblem: (message) => say(message, "warn"),
        })
      : null;
    return el(
      "form",
      {
        class: "checkout",
        onsubmit: async (event) => {
          event.preventDefault();
          // A token verifies once: taking it starts the widget's next check, whatever this answer is.
          const turnstileToken = check?.take();
          if (check && !turnstileToken) return;
          const response = await fetch(`/v1/drops/${encodeURIComponent(item.id)}/tickets`, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ email: email.value, ...(check ? { turnstileToken } : {}) }),
          }).catch(() => null);
          if (!response?.ok) {
            const problem = (await response?.json().catch(() => null)) ?? {};
            if (check) say(...refusedWithBotCheck(response, problem));
            else say(problem.detail ?? "The queue could not be joined. Try again.", "error");
            return;
          }
          if (check) {
            check.remove();
            say("");
          }
          const { ticket } = await response.json();
          localStorage.setItem(
            TICKETS_KEY,
            JSON.stringify({ ...tickets(), [item.id]: { ticket, email: email.value } }),
          );
          poll(ticket, email.value);
        },
      },
      el("label", {}, "Email", email),
      check?.element,
      join,
    );
  }

  const saved = tickets()[item.id];
  if (saved) poll(saved.ticket, saved.email);
  else show(joinForm());
  return panel;
}

/** The pass (and the email it is bound to) for a drop in the cart, if there is one. */
export function dropPass(lines) {
  const passes = readJson(PASSES_KEY, {});
  return lines.map((line) => line.productId && passes[line.productId]).find(Boolean) ?? null;
}
