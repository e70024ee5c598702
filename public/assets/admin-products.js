// /admin/products: the catalog as the operator keeps it: create a product with its variants, edit
// it (a drop's start, its limits per order and per customer, its waiting room), archive it, and
// set or adjust each variant's stock, and sell it by draw.
import { api, confirmStep, field, isoOf, localInput, money, nav, outcome, scrollTable } from "./admin-api.js";
import { drawAdminPanel } from "./admin-draw.js";
import { stockPanel } from "./admin-stock.js";
import { app, el } from "./ui.js";

const FIELDS = ["slug", "title", "description", "category", "images", "variants", "requiresShipping"];

const count = (value) => (String(value ?? "").trim() ? Number(value) : undefined);

let rows = 0;
function variantRow(variant = {}) {
  const n = ++rows;
  const row = el(
    "fieldset",
    { class: "variant-row", "data-testid": "variant-row" },
    el("legend", {}, variant.sku ?? "New variant"),
    field("SKU", {
      id: `sku-${n}`,
      name: "sku",
      required: true,
      value: variant.sku ?? "",
      pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]*",
    }),
    field("Title", { id: `vtitle-${n}`, name: "vtitle", required: true, value: variant.title ?? "" }),
    field("Price", {
      id: `price-${n}`,
      name: "price",
      type: "number",
      min: 0,
      step: "0.01",
      required: true,
      value: variant.price ? variant.price.amount / 100 : "",
    }),
    el("button", { type: "button", onclick: () => row.remove() }, "Remove variant"),
  );
  row.keep = variant;
  return row;
}

function productForm(product, done, result) {
  const variants = el("div", { class: "variants-edit" }, (product?.variants ?? [{}]).map(variantRow));
  const form = el(
    "form",
    {
      class: "product-form",
      "data-testid": "product-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const currency = String(data.get("currency") || "USD").toUpperCase();
        const startsAt = isoOf(String(data.get("saleStartsAt")));
        const admit = count(data.get("admitPerMinute"));
        const body = {
          ...Object.fromEntries(
            FIELDS.filter((name) => product?.[name] !== undefined).map((name) => [name, product[name]]),
          ),
          slug: String(data.get("slug")).trim(),
          title: String(data.get("title")).trim(),
          description: String(data.get("description")),
          category: String(data.get("category")).trim(),
          requiresShipping: data.get("requiresShipping") === "on",
          variants: [...variants.querySelectorAll(".variant-row")].map((row) => ({
            ...Object.fromEntries(Object.entries(row.keep).filter(([name]) => name !== "stock")),
            sku: row.querySelector("[name=sku]").value.trim(),
            title: row.querySelector("[name=vtitle]").value.trim(),
            price: { amount: Math.round(Number(row.querySelector("[name=price]").value) * 100), currency },
          })),
          ...(startsAt ? { saleStartsAt: startsAt } : {}),
          ...(count(data.get("maxPerOrder")) ? { maxPerOrder: count(data.get("maxPerOrder")) } : {}),
          ...(count(data.get("maxPerCustomer")) ? { maxPerCustomer: count(data.get("maxPerCustomer")) } : {}),
          ...(admit ? { waitingRoom: { ...(product?.waitingRoom ?? {}), admitPerMinute: admit } } : {}),
        };
        try {
          const saved = product
            ? await api("PUT", `/v1/admin/products/${encodeURIComponent(product.id)}`, { body })
            : await api("POST", "/v1/admin/products", { body });
          done(saved);
          result.show(product ? "Saved." : "Created. Set its stock below.");
        } catch (error) {
          result.fail(error);
        }
      },
    },
    el("h2", {}, product ? `Edit ${product.title}` : "New product"),
    field("Slug", {
      name: "slug",
      required: true,
      value: product?.slug ?? "",
      pattern: "[a-z0-9]+(-[a-z0-9]+)*",
      "data-testid": "product-slug",
    }),
    field("Title", {
      name: "title",
      required: true,
      value: product?.title ?? "",
      "data-testid": "product-title",
    }),
    el(
      "label",
      { class: "field", for: "f-description" },
      el("span", {}, "Description"),
      el("textarea", { id: "f-description", name: "description", rows: 3 }, product?.description ?? ""),
    ),
    field("Category", {
      name: "category",
      required: true,
      value: product?.category ?? "",
      pattern: "[a-z0-9]+(-[a-z0-9]+)*",
    }),
    field("Currency", {
      name: "currency",
      value: product?.variants?.[0]?.price.currency ?? "USD",
      maxlength: 3,
    }),
    el(
      "label",
      { class: "check" },
      el("input", {
        type: "checkbox",
        name: "requiresShipping",
        checked: product?.requiresShipping !== false,
      }),
      " Ships (needs an address)",
    ),
    el("h3", {}, "Variants"),
    variants,
    el("button", { type: "button", onclick: () => variants.append(variantRow()) }, "Add a variant"),
    el("h3", {}, "Drop set-up"),
    field("Sale starts", {
      name: "saleStartsAt",
      type: "datetime-local",
      value: localInput(product?.saleStartsAt),
    }),
    field("Limit per order", {
      name: "maxPerOrder",
      type: "number",
      min: 1,
      value: product?.maxPerOrder ?? "",
    }),
    field("Limit per customer", {
      name: "maxPerCustomer",
      type: "number",
      min: 1,
      value: product?.maxPerCustomer ?? "",
    }),
    field("Waiting room: let in per minute", {
      name: "admitPerMinute",
      type: "number",
      min: 1,
      value: product?.waitingRoom?.admitPerMinute ?? "",
    }),
    el("p", { class: "muted" }, "A waiting room needs a start time. Empty limits: none."),
    el(
      "button",
      { type: "submit", class: "primary", "data-testid": "product-save" },
      product ? "Save" : "Create",
    ),
  );
  return form;
}

function archive(product, container) {
  const result = outcome("archive-outcome");
  const button = el(
    "button",
    {
      type: "button",
      class: "danger",
      onclick: () =>
        confirmStep(container, `Archive ${product.title}? It leaves the shop at once.`, async () => {
          try {
            await api("DELETE", `/v1/admin/products/${encodeURIComponent(product.id)}`);
            history.pushState(null, "", "/admin/products");
            productsScreen();
          } catch (error) {
            result.fail(error);
          }
        }),
    },
    "Archive…",
  );
  return [button, result];
}

/** The form and, once the product exists, its stock and archive; the outcome line outlives a save. */
function editor(product) {
  const box = el("div", { class: "panel", "data-testid": "product-editor" });
  const result = outcome("product-outcome");
  const done = (saved) => {
    history.replaceState(null, "", `/admin/products?id=${encodeURIComponent(saved.id)}`);
    box.replaceChildren(...editorParts(saved, box, done, result));
  };
  box.append(
    ...(product ? editorParts(product, box, done, result) : [productForm(null, done, result), result]),
  );
  return box;
}

const editorParts = (product, box, done, result) => [
  productForm(product, done, result),
  result,
  ...product.variants.map((variant) => stockPanel(variant.sku)),
  drawAdminPanel(product),
  el("div", { class: "act" }, ...archive(product, box)),
];

export async function productsScreen() {
  const result = outcome("products-outcome");
  app.replaceChildren(nav(), el("h1", {}, "Products"), result);
  const wanted = new URLSearchParams(location.search).get("id");
  let items = [];
  try {
    for (let cursor = null, n = 0; n < 10; n++) {
      const page = await api(
        "GET",
        `/v1/products?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      items = items.concat(page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
  } catch (error) {
    result.fail(error);
  }
  const chosen = items.find((p) => p.id === wanted) ?? null;
  const open = (id) => {
    history.pushState(null, "", `/admin/products${id ? `?id=${encodeURIComponent(id)}` : "?new"}`);
    productsScreen();
  };
  app.append(
    el(
      "button",
      { type: "button", class: "primary", "data-testid": "new-product", onclick: () => open(null) },
      "New product",
    ),
    wanted || location.search === "?new" ? editor(chosen) : null,
    scrollTable(
      `${items.length} product${items.length === 1 ? "" : "s"} on sale`,
      ["product", "slug", "variants", "from", "ships"],
      items.map((p) => [
        el(
          "a",
          {
            href: `/admin/products?id=${encodeURIComponent(p.id)}`,
            onclick: (event) => {
              event.preventDefault();
              open(p.id);
            },
          },
          p.title,
        ),
        p.slug,
        String(p.variants.length),
        money(p.variants[0]?.price),
        p.requiresShipping === false ? "no" : "yes",
      ]),
      "products-table",
    ),
  );
}
