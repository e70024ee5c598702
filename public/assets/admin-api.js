// What the /admin screens share: the admin token (kept for this tab only), calls to the admin API
// that turn a refusal into the API's own words (its problem detail), the screens' navigation and an
// in-page confirmation for anything that cannot be undone.
import { formatMoney } from "./money.js";
import { el } from "./ui.js";

export const TOKEN_KEY = "stampede.adminToken";

/** A refusal of the admin API: its problem document's detail and code, and the HTTP status. */
class ApiError extends Error {
  constructor(status, problem) {
    const fields = (problem?.errors ?? []).map(
      (e) => `${e.path ?? e.field ?? ""}: ${e.message ?? e.detail ?? ""}`,
    );
    super([problem?.detail ?? problem?.title ?? `The shop answered ${status}`, ...fields].join(" · "));
    this.status = status;
    this.code = problem?.code;
    this.problem = problem;
  }
}

/**
 * One call to the admin API with the tab's token. `body` is sent as JSON unless it is a string
 * (a CSV); `as: "response"` hands back the raw response (a file to download).
 */
export async function api(method, path, { body, headers = {}, as = "json" } = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY) ?? "";
  const type = typeof body === "string" ? "text/csv" : "application/json";
  const response = await fetch(path, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "Content-Type": type }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    if (response.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    throw new ApiError(response.status, problem);
  }
  if (as === "response") return response;
  return response.status === 204 ? null : response.json();
}

export const money = (value) => (value ? formatMoney(value) : "–");

const stamp = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
export const when = (iso) => (iso ? stamp.format(new Date(iso)) : "");

/** The screens' links, the current one marked. */
export function nav() {
  const here = location.pathname;
  const link = (href, label) =>
    el(
      "a",
      {
        href,
        "aria-current": here === href || (href !== "/admin" && here.startsWith(href)) ? "page" : false,
      },
      label,
    );
  return el(
    "nav",
    { class: "admin-nav", "aria-label": "Operations" },
    link("/admin", "Dashboard"),
    link("/admin/orders", "Orders"),
    link("/admin/fulfillments", "Fulfilment CSV"),
    link("/admin/products", "Products"),
    link("/admin/emails", "Emails"),
    link("/admin/discounts", "Discount codes"),
    link("/admin/pricing", "Tax & shipping"),
  );
}

/** A line of feedback under an action: what happened, or the API's refusal. */
export function outcome(testid) {
  const line = el("p", { class: "outcome", role: "status", "aria-live": "polite", "data-testid": testid });
  line.show = (message, tone = "ok") => {
    line.textContent = message;
    line.dataset.tone = tone;
  };
  line.fail = (error) => line.show(error.message ?? String(error), "error");
  return line;
}

/**
 * An in-page confirmation for an irreversible action: the first press asks (naming what will
 * happen), a second press on "Yes" does it, "No" puts the form back.
 */
export function confirmStep(container, question, action) {
  const box = el(
    "div",
    { class: "confirm", role: "alertdialog", "aria-label": question, "data-testid": "confirm" },
    el("p", {}, question),
    el(
      "div",
      { class: "actions" },
      el(
        "button",
        {
          type: "button",
          class: "danger",
          "data-testid": "confirm-yes",
          onclick: async (event) => {
            event.target.disabled = true;
            box.remove();
            await action();
          },
        },
        "Yes, do it",
      ),
      el("button", { type: "button", "data-testid": "confirm-no", onclick: () => box.remove() }, "No"),
    ),
  );
  container.querySelector(".confirm")?.remove();
  container.append(box);
  box.querySelector("[data-testid=confirm-yes]").focus();
}

/** A labelled input; `attributes` go to the input. */
export function field(label, attributes) {
  const id = attributes.id ?? `f-${attributes.name}`;
  return el("label", { class: "field", for: id }, el("span", {}, label), el("input", { id, ...attributes }));
}

/** A labelled select of [value, text] pairs; `id` where one screen has two selects of one name. */
export function choice(label, name, options, selected = "", id = `f-${name}`) {
  return el(
    "label",
    { class: "field", for: id },
    el("span", {}, label),
    el(
      "select",
      { id, name },
      options.map(([value, text]) => el("option", { value, selected: value === selected }, text)),
    ),
  );
}

/** A table that scrolls sideways inside itself rather than widening the page. */
export function scrollTable(caption, head, rows, testid) {
  return el(
    "div",
    { class: "table-scroll" },
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
            row.map((cell) => el("td", {}, cell ?? "")),
          ),
        ),
      ),
    ),
  );
}

/**
 * Shows each of the API's field problems under the input it names: the element whose `data-path` is
 * the problem's path, else the nearest one above it (`zones.0.methods.1.rate.amount` falls back to
 * `zones.0.methods.1`). What no element names stays in the outcome line, which lists every problem.
 */
export function fieldErrors(form, error) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const problem of error?.problem?.errors ?? []) {
    const parts = String(problem.path ?? "").split(".");
    let target = null;
    while (parts.length > 0 && !target) {
      target = form.querySelector(`[data-path="${CSS.escape(parts.join("."))}"]`);
      parts.pop();
    }
    if (!target) continue;
    target.after(
      el(
        "small",
        { class: "field-error", role: "alert", "data-testid": "field-error", "data-for": problem.path },
        problem.message ?? "",
      ),
    );
  }
}

/** Downloads a file of the admin API (a CSV) with the tab's token, under the name the API gives it. */
export async function download(path, fallbackName) {
  const response = await api("GET", path, { as: "response" });
  const name =
    /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}

/** A datetime-local value (the operator's zone) from ISO, and back ("" when empty). */
export const localInput = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};
export const isoOf = (local) => (local ? new Date(local).toISOString() : "");

/** An amount typed in major units (12.50) as minor units (1250); "" stays "" and nonsense stays NaN. */
export const minor = (typed) => {
  const text = String(typed ?? "").trim();
  return text === "" ? "" : Math.round(Number(text) * 100);
};
