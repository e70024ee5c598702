// /admin/discounts: the shop's discount codes with their uses, a page at a time; a form to create a
// code (any kind, scope, window, minimum and caps) and one to generate a batch of single-use codes,
// whose CSV downloads with the tab's token. Each code opens its own screen (admin-discount.js).
import {
  api,
  choice,
  download,
  field,
  fieldErrors,
  isoOf,
  minor,
  money,
  nav,
  outcome,
  scrollTable,
  when,
} from "./admin-api.js";
import { app, el } from "./ui.js";

/** What a code takes off, in words: "15 %", "$5.00 per unit", "free shipping". */
export function offerOf(code) {
  if (code.kind === "percentage") return `${code.value} %`;
  if (code.kind === "fixed") return `${money(code.value)} ${code.per === "unit" ? "per unit" : "per order"}`;
  return "free shipping";
}

/** What a code applies to, in words. */
export function scopeOf(code) {
  const { products = [], categories = [] } = code.appliesTo ?? {};
  const parts = [
    products.length ? `products ${products.join(", ")}` : null,
    categories.length ? `categories ${categories.join(", ")}` : null,
  ].filter(Boolean);
  return parts.length ? parts.join("; ") : "whole cart";
}

/** A code's uses: null when its counters could not be read; left null for no cap, or a change under way. */
export const usesOf = (uses, code = {}) =>
  uses === null
    ? "uses cannot be read right now"
    : `${uses.held} held · ${uses.used} used · ${leftOf(uses, code)}`;
const leftOf = (uses, code) =>
  code.capPending ? "change of the cap under way" : uses.left === null ? "no cap" : `${uses.left} left`;

const KINDS = [
  ["percentage", "percentage off"],
  ["fixed:order", "fixed amount per order"],
  ["fixed:unit", "fixed amount per unit"],
  ["free_shipping", "free shipping"],
];
const SCOPES = [
  ["cart", "whole cart"],
  ["products", "some products (ids)"],
  ["categories", "some categories"],
];

const listOf = (text) =>
  String(text ?? "")
    .split(/[\s,]+/)
    .filter(Boolean);
const whole = (typed) => (String(typed ?? "").trim() === "" ? "" : Number(typed));

/**
 * The terms a code or a batch shares, from the form as typed: what is left empty is left out, the
 * rest is sent as it is for the API to check (it names each field it refuses).
 */
function termsOf(data) {
  const [kind, per] = String(data.get("kind")).split(":");
  const currency = String(data.get("currency") || "USD")
    .trim()
    .toUpperCase();
  const value = String(data.get("value") ?? "").trim();
  const ids = listOf(data.get("ids"));
  const scope = String(data.get("scope"));
  const entries = {
    kind,
    per,
    value:
      kind === "free_shipping" || value === ""
        ? ""
        : kind === "percentage"
          ? Number(value)
          : { amount: minor(value), currency },
    appliesTo: scope === "cart" ? "" : { [scope]: ids },
    startsAt: isoOf(String(data.get("startsAt") ?? "")),
    endsAt: isoOf(String(data.get("endsAt") ?? "")),
    minSubtotal:
      minor(data.get("minSubtotal")) === "" ? "" : { amount: minor(data.get("minSubtotal")), currency },
    maxUsesPerCustomer: whole(data.get("maxUsesPerCustomer")),
  };
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== "" && v !== undefined));
}

/**
 * A code for "some products" naming none would apply to nothing, which the API takes as asked: the
 * screen asks for the ids first, beside the field, as the API names its own refusals.
 */
function scopeProblem(data) {
  if (String(data.get("scope")) === "cart" || listOf(data.get("ids")).length > 0) return null;
  const message = "Name at least one product or category id, or choose the whole cart";
  return { message, problem: { errors: [{ path: "appliesTo.products", message }] } };
}

/** The inputs of the terms; each carries the API path its problems come back under. */
const at = (path, node) => {
  node.dataset.path = path;
  return node;
};
function termInputs(prefix) {
  return [
    at("kind", choice("Kind", "kind", KINDS, "percentage", `${prefix}-kind`)),
    at(
      "value",
      field("Value (percent, or amount)", {
        id: `${prefix}-value`,
        name: "value",
        inputmode: "decimal",
        "data-testid": `${prefix}-value`,
      }),
    ),
    at("value.currency", field("Currency", { id: `${prefix}-currency`, name: "currency", value: "USD" })),
    at("appliesTo", choice("Applies to", "scope", SCOPES, "cart", `${prefix}-scope`)),
    at("appliesTo.products", field("Product or category ids", { id: `${prefix}-ids`, name: "ids" })),
    at("startsAt", field("Starts", { id: `${prefix}-starts`, name: "startsAt", type: "datetime-local" })),
    at("endsAt", field("Ends", { id: `${prefix}-ends`, name: "endsAt", type: "datetime-local" })),
    at(
      "minSubtotal",
      field("Minimum subtotal", { id: `${prefix}-min`, name: "minSubtotal", inputmode: "decimal" }),
    ),
    at(
      "maxUsesPerCustomer",
      field("Uses per customer", {
        id: `${prefix}-per-customer`,
        name: "maxUsesPerCustomer",
        type: "number",
        "data-testid": `${prefix}-per-customer`,
      }),
    ),
  ];
}

/**
 * Posts a form of a code's terms (what `own` adds: the code, or a batch's prefix and count): a scope
 * naming nothing is refused beside its field before sending, the API's refusals likewise after.
 * Answers what the API made, or nothing when it was refused.
 */
async function postTerms(event, result, path, own) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const missing = scopeProblem(data);
  if (missing) {
    fieldErrors(form, missing);
    result.fail(missing);
    return null;
  }
  try {
    const made = await api("POST", path, { body: { ...own(data), ...termsOf(data) } });
    fieldErrors(form, null);
    return made;
  } catch (error) {
    fieldErrors(form, error);
    result.fail(error);
    return null;
  }
}

function createPanel(reload) {
  const result = outcome("code-outcome");
  const form = el(
    "form",
    {
      class: "filters",
      "data-testid": "code-form",
      onsubmit: (event) =>
        postTerms(event, result, "/v1/admin/discounts", (data) => ({
          code: String(data.get("code")).trim(),
          ...(whole(data.get("maxUses")) === "" ? {} : { maxUses: whole(data.get("maxUses")) }),
        })).then((created) => {
          if (!created) return;
          form.reset();
          result.show(`Created ${created.code}.`);
          reload();
        }),
    },
    at("code", field("Code", { name: "code", required: true, "data-testid": "code-code" })),
    ...termInputs("code"),
    at(
      "maxUses",
      field("Uses in all (cap)", { name: "maxUses", type: "number", "data-testid": "code-max-uses" }),
    ),
    el("button", { type: "submit", class: "primary", "data-testid": "code-create" }, "Create code"),
  );
  return el("section", { class: "panel" }, el("h2", {}, "New code"), form, result);
}

async function downloadBatch(prefix, result) {
  try {
    result.show(
      `Downloaded ${await download(`/v1/admin/discounts/${encodeURIComponent(prefix)}/codes.csv`, `${prefix.toLowerCase()}-codes.csv`)}.`,
    );
  } catch (error) {
    result.fail(error);
  }
}

function batchPanel(reload) {
  const result = outcome("batch-outcome");
  const made = el("div", { "data-testid": "batch-made" });
  const form = el(
    "form",
    {
      class: "filters",
      "data-testid": "batch-form",
      onsubmit: (event) =>
        postTerms(event, result, "/v1/admin/discounts/batches", (data) => ({
          prefix: String(data.get("prefix")).trim(),
          count: whole(data.get("count")),
        })).then((batch) => {
          if (!batch) return;
          result.show(`Generated ${batch.batch.count} codes ${batch.code}-….`);
          made.replaceChildren(
            el(
              "button",
              {
                type: "button",
                "data-testid": "batch-download",
                onclick: () => downloadBatch(batch.code, result),
              },
              `Download the ${batch.batch.count} codes (CSV)`,
            ),
          );
          reload();
        }),
    },
    at("prefix", field("Prefix", { name: "prefix", required: true, "data-testid": "batch-prefix" })),
    at("count", field("How many", { name: "count", type: "number", min: 1, "data-testid": "batch-count" })),
    ...termInputs("batch"),
    el("button", { type: "submit", class: "primary", "data-testid": "batch-create" }, "Generate codes"),
  );
  return el(
    "section",
    { class: "panel" },
    el("h2", {}, "Batch of single-use codes"),
    el("p", { class: "muted" }, "Each code is the prefix, a dash and 12 characters, usable once."),
    form,
    result,
    made,
  );
}

const codeRow = (code, result) => [
  el(
    "a",
    { href: `/admin/discounts/${encodeURIComponent(code.code)}`, "data-testid": "code-link" },
    code.batch ? `${code.code}-… (${code.batch.count} codes)` : code.code,
  ),
  offerOf(code),
  scopeOf(code),
  code.status,
  when(code.startsAt) || "–",
  when(code.endsAt) || "–",
  money(code.minSubtotal),
  String(code.maxUses ?? (code.batch ? "1 each" : "–")),
  String(code.maxUsesPerCustomer ?? "–"),
  code.uses === null ? "?" : String(code.uses.held),
  code.uses === null ? "?" : String(code.uses.used),
  code.uses === null
    ? "?"
    : code.capPending
      ? "change under way"
      : code.uses.left === null
        ? "no cap"
        : String(code.uses.left),
  code.batch ? el("button", { type: "button", onclick: () => downloadBatch(code.code, result) }, "CSV") : "",
];

async function listPanel() {
  const result = outcome("codes-outcome");
  const list = el("div", { "data-testid": "codes-list" }, el("p", { class: "muted" }, "Loading codes…"));
  const items = [];
  const more = async (cursor) => {
    try {
      const page = await api(
        "GET",
        `/v1/admin/discounts?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      items.push(...page.items);
      list.replaceChildren(
        items.length === 0
          ? el("p", { class: "muted" }, "No discount codes yet.")
          : scrollTable(
              `${items.length} code${items.length === 1 ? "" : "s"}`,
              [
                "code",
                "offer",
                "applies to",
                "status",
                "starts",
                "ends",
                "minimum",
                "cap",
                "per customer",
                "held",
                "used",
                "left",
                "",
              ],
              items.map((code) => codeRow(code, result)),
              "codes-table",
            ),
        page.nextCursor
          ? el(
              "button",
              { type: "button", "data-testid": "codes-more", onclick: () => more(page.nextCursor) },
              "More codes",
            )
          : "",
      );
    } catch (error) {
      list.replaceChildren();
      result.fail(error);
    }
  };
  await more(null);
  return el("section", { class: "panel" }, el("h2", {}, "Codes"), result, list);
}

export async function discountsScreen() {
  const slot = el("div");
  const reload = async () => slot.replaceChildren(await listPanel());
  app.replaceChildren(nav(), el("h1", {}, "Discount codes"), slot, createPanel(reload), batchPanel(reload));
  await reload();
}
