// Cloudflare Turnstile on the storefront: the widget a drop's queue shows when joining needs its
// token. Cloudflare's script is loaded from Cloudflare (as Turnstile requires) only when a widget
// is shown, and renders explicitly into the join form.
const SCRIPT = "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit";

let script = null;
function loadTurnstile() {
  script ??= new Promise((resolve, reject) => {
    if (window.turnstile) return resolve(window.turnstile);
    const tag = document.createElement("script");
    tag.src = SCRIPT;
    tag.addEventListener("load", () =>
      window.turnstile ? resolve(window.turnstile) : reject(new Error("no turnstile")),
    );
    tag.addEventListener("error", () => reject(new Error("Turnstile did not load")));
    document.head.append(tag);
  });
  script.catch(() => {
    script = null;
  });
  return script;
}

/**
 * A Turnstile widget for one form. A token verifies once, so `take()` hands it over and starts a
 * new check at once: whatever the answer to that attempt, the next one gets a fresh token.
 * `onReady(ready)` says whether a token is there; `onProblem(message)` what the buyer should know.
 */
export function botCheck({ sitekey, onReady, onProblem }) {
  const element = document.createElement("div");
  element.className = "turnstile";
  element.dataset.testid = "turnstile";
  let token = "";
  let widget = null;
  let removed = false;
  const hold = (value) => {
    token = value;
    onReady(Boolean(value));
  };
  const reset = () => {
    if (widget !== null && !removed) window.turnstile.reset(widget);
  };
  loadTurnstile()
    .then((turnstile) => {
      if (removed) return;
      widget = turnstile.render(element, {
        sitekey,
        // The shop checks that the token was made for this action.
        action: "join",
        callback: hold,
        // This page starts the check again itself, so the buyer is told and the button waits.
        "refresh-expired": "never",
        "expired-callback": () => {
          hold("");
          reset();
          onProblem("The security check expired, so it is running again. Join once it is done.");
        },
        "error-callback": () => {
          hold("");
          onProblem(
            "The security check could not finish. It tries again by itself; if it keeps failing, reload the page.",
          );
          // Handled here: without it Turnstile throws.
          return true;
        },
        // The token goes in the request's JSON body, not as a form field.
        "response-field": false,
      });
    })
    .catch(() => {
      element.textContent = "The security check could not load. Check your connection and reload the page.";
    });
  return {
    element,
    take() {
      const value = token;
      hold("");
      reset();
      return value;
    },
    remove() {
      if (widget !== null && !removed) window.turnstile.remove(widget);
      removed = true;
    },
  };
}
