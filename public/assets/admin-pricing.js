// /admin/pricing: the shop's tax and shipping as checkout prices carts with them: whether prices
// include tax, the tax rates by country and region, and the shipping zones with their methods per
// currency. Saved over the version read (If-Match): a change saved meanwhile elsewhere is never
// overwritten; the screen says so and offers to reload.
import { api, choice, field, fieldErrors, minor, nav, outcome } from "./admin-api.js";
import { app, el } from "./ui.js";

let fields = 0;
/** A labelled input with an id of its own: the rows repeat the same names. */
const input = (label, attributes) => field(label, { id: `p-${attributes.name}-${++fields}`, ...attributes });
const major = (amount) => (typeof amount === "number" ? (amount / 100).toFixed(2) : "");
const text = (row, name) => row.querySelector(`[name="${name}"]`).value.trim();
/** The element, marked with the API path its problems come back under. */
const at = (node, path) => {
  node.dataset.path = path;
  return node;
};
const remover = (row, label) =>
  el("button", { type: "button", class: "danger", onclick: () => row.remove() }, label);

function rateRow(rate = {}) {
  const row = el(
    "div",
    { class: "filters", "data-testid": "tax-row" },
    input("Country", {
      name: "country",
      value: rate.country ?? "",
      maxlength: 2,
      "data-testid": "tax-country",
    }),
    input("Region", { name: "region", value: rate.region ?? "", "data-testid": "tax-region" }),
    input("Rate %", {
      name: "rate",
      inputmode: "decimal",
      value: rate.rate ?? "",
      "data-testid": "tax-rate",
    }),
  );
  row.append(remover(row, "Remove"));
  return row;
}

/** "US; CA: ON, QC" as the zone's countries, and back. */
const countriesText = (countries = []) =>
  countries.map((c) => (c.regions?.length ? `${c.country}: ${c.regions.join(", ")}` : c.country)).join("; ");
const countriesOf = (typed) =>
  typed
    .split(";")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [country, regions] = part.split(":");
      const list = (regions ?? "")
        .split(",")
        .map((r) => r.trim())
        .filter(Boolean);
      return { country: country.trim().toUpperCase(), ...(list.length ? { regions: list } : {}) };
    });

/** Bands "0=15.00, 100.00=9.00": from a subtotal (major units), this charge. */
const bandsText = (bands = []) => bands.map((b) => `${major(b.from)}=${major(b.amount)}`).join(", ");
const bandsOf = (typed) =>
  typed
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [from, amount] = part.split("=");
      return { from: minor(from), amount: minor(amount) };
    });

function methodRow(method = {}) {
  const rate = method.rate ?? { kind: "flat" };
  const row = el(
    "div",
    { class: "filters", "data-testid": "method-row" },
    input("Method id", { name: "id", value: method.id ?? "", "data-testid": "method-id" }),
    input("Name", { name: "name", value: method.name ?? "", "data-testid": "method-name" }),
    input("Currency", { name: "currency", value: method.currency ?? "USD", maxlength: 3 }),
    choice(
      "Rate",
      "kind",
      [
        ["flat", "flat"],
        ["bands", "bands by subtotal"],
        ["free_above", "free above a threshold"],
      ],
      rate.kind,
      `p-kind-${++fields}`,
    ),
    input("Amount", {
      name: "amount",
      inputmode: "decimal",
      value: major(rate.amount),
      "data-testid": "method-amount",
    }),
    input("Free from", { name: "threshold", inputmode: "decimal", value: major(rate.threshold) }),
    input("Bands (from=amount, …)", {
      name: "bands",
      value: bandsText(rate.bands),
      placeholder: "0=15.00, 100.00=9.00",
    }),
  );
  row.append(remover(row, "Remove method"));
  return row;
}

function zoneBox(zone = {}) {
  const methods = el("div", { class: "methods" }, (zone.methods ?? [{}]).map(methodRow));
  const box = el(
    "fieldset",
    { class: "variant-row", "data-testid": "zone" },
    el("legend", {}, zone.name ?? "New zone"),
    el(
      "div",
      { class: "filters" },
      input("Zone id", { name: "zone-id", value: zone.id ?? "", "data-testid": "zone-id" }),
      input("Name", { name: "zone-name", value: zone.name ?? "", "data-testid": "zone-name" }),
      input("Countries (US; CA: ON, QC)", {
        name: "zone-countries",
        value: countriesText(zone.countries),
        "data-testid": "zone-countries",
      }),
      el(
        "label",
        { class: "check" },
        el("input", { type: "checkbox", name: "zone-tax", checked: zone.taxShipping === true }),
        " Shipping is taxed",
      ),
    ),
    methods,
    el("button", { type: "button", onclick: () => methods.append(methodRow()) }, "Add a method"),
  );
  box.append(remover(box, "Remove zone"));
  return box;
}

/** The settings as typed, each part marked with its API path so a refusal lands beside it. */
function collect(form) {
  const taxRates = [...form.querySelectorAll("[data-testid=tax-row]")].map((row, i) => {
    at(row.querySelector("[name=country]"), `taxRates.${i}.country`);
    at(row.querySelector("[name=region]"), `taxRates.${i}.region`);
    at(row.querySelector("[name=rate]"), `taxRates.${i}.rate`);
    at(row, `taxRates.${i}`);
    const region = text(row, "region");
    const rate = text(row, "rate");
    return {
      country: text(row, "country").toUpperCase(),
      ...(region ? { region } : {}),
      rate: rate === "" ? null : Number(rate),
    };
  });
  const zones = [...form.querySelectorAll("[data-testid=zone]")].map((box, z) => {
    at(box.querySelector("[name=zone-id]"), `zones.${z}.id`);
    at(box.querySelector("[name=zone-name]"), `zones.${z}.name`);
    at(box.querySelector("[name=zone-countries]"), `zones.${z}.countries`);
    at(box.querySelector(".methods"), `zones.${z}.methods`);
    at(box.querySelector("legend"), `zones.${z}`);
    const methods = [...box.querySelectorAll("[data-testid=method-row]")].map((row, m) => {
      const path = `zones.${z}.methods.${m}`;
      at(row, path);
      for (const name of ["id", "name", "currency"])
        at(row.querySelector(`[name=${name}]`), `${path}.${name}`);
      at(row.querySelector("[name=amount]"), `${path}.rate.amount`);
      at(row.querySelector("[name=threshold]"), `${path}.rate.threshold`);
      at(row.querySelector("[name=bands]"), `${path}.rate.bands`);
      const kind = row.querySelector("[name=kind]").value;
      const rate =
        kind === "bands"
          ? { kind, bands: bandsOf(text(row, "bands")) }
          : kind === "free_above"
            ? { kind, amount: minor(text(row, "amount")), threshold: minor(text(row, "threshold")) }
            : { kind, amount: minor(text(row, "amount")) };
      return {
        id: text(row, "id"),
        name: text(row, "name"),
        currency: text(row, "currency").toUpperCase(),
        rate,
      };
    });
    return {
      id: text(box, "zone-id"),
      name: text(box, "zone-name"),
      countries: countriesOf(text(box, "zone-countries")),
      taxShipping: box.querySelector("[name=zone-tax]").checked,
      methods,
    };
  });
  return { taxMode: form.querySelector("[name=taxMode]").value, taxRates, zones };
}

function settingsForm(settings, etag) {
  const result = outcome("pricing-outcome");
  const version = el("p", { class: "muted", "data-testid": "pricing-version" });
  const showVersion = (s) =>
    (version.textContent = `Version ${s.version}${s.updatedAt ? `, saved ${new Date(s.updatedAt).toLocaleString()}` : ", never saved"}.`);
  showVersion(settings);
  let read = etag;
  const rates = el("div", { "data-testid": "tax-rates" }, settings.taxRates.map(rateRow));
  const zones = el("div", { "data-testid": "zones" }, settings.zones.map(zoneBox));
  const form = el(
    "form",
    {
      "data-testid": "pricing-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const body = collect(form);
        fieldErrors(form, null);
        try {
          const response = await api("PUT", "/v1/admin/pricing", {
            body,
            headers: { "If-Match": read },
            as: "response",
          });
          read = response.headers.get("ETag") ?? read;
          const saved = await response.json();
          showVersion(saved);
          result.show(`Saved as version ${saved.version}. Checkout elsewhere follows within 30 s.`);
        } catch (error) {
          if (error.status === 412) {
            result.show(
              "These settings were changed meanwhile (saved elsewhere): nothing was saved. Reload them, then make your change again.",
              "error",
            );
            result.append(
              " ",
              el(
                "button",
                { type: "button", "data-testid": "pricing-reload", onclick: () => pricingScreen() },
                "Reload",
              ),
            );
            return;
          }
          fieldErrors(form, error);
          result.fail(error);
        }
      },
    },
    at(
      choice(
        "Prices",
        "taxMode",
        [
          ["exclusive", "tax added on top (exclusive, as in the US)"],
          ["inclusive", "include tax (inclusive, as in the EU)"],
        ],
        settings.taxMode,
      ),
      "taxMode",
    ),
    el("h2", {}, "Tax rates"),
    el("p", { class: "muted" }, "A region's rate wins over its country's; a place with neither pays no tax."),
    rates,
    el(
      "button",
      { type: "button", "data-testid": "tax-add", onclick: () => rates.append(rateRow()) },
      "Add a rate",
    ),
    el("h2", {}, "Shipping zones"),
    el(
      "p",
      { class: "muted" },
      "Amounts in major units (8.00). A zone naming a region wins over one naming only its country.",
    ),
    zones,
    el(
      "button",
      { type: "button", "data-testid": "zone-add", onclick: () => zones.append(zoneBox()) },
      "Add a zone",
    ),
    el(
      "p",
      {},
      el("button", { type: "submit", class: "primary", "data-testid": "pricing-save" }, "Save settings"),
    ),
    result,
  );
  return [version, form];
}

export async function pricingScreen() {
  const status = outcome("pricing-load");
  app.replaceChildren(nav(), el("h1", {}, "Tax & shipping"), status);
  try {
    const response = await api("GET", "/v1/admin/pricing", { as: "response" });
    const etag = response.headers.get("ETag") ?? "";
    const settings = await response.json();
    app.replaceChildren(nav(), el("h1", {}, "Tax & shipping"), ...settingsForm(settings, etag));
  } catch (error) {
    status.fail(error);
  }
}
