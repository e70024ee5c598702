// The Stampede storefront: plain DOM over the public API. Pages: home, product (or its draw), cart,
// order, and the payment simulator's 3-D Secure challenge.
import { cartPage } from "./checkout-page.js";
import { drawPanel } from "./draw-page.js";
import { queuePanel } from "./drop-queue.js";
import { challenge, order } from "./order-page.js";
import { cart, el, getJson, money, render, say } from "./ui.js";

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
  // A product without a picture of its own gets the one the shop draws from its slug.
  const src =
    item.images?.[0] ?? (item.slug ? `/images/products/${encodeURIComponent(item.slug)}.svg` : null);
  if (!src) return placeholder();
  const img = el("img", { src, alt: "", width: size, height: size, loading: "lazy" });
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

// Home: products with search, a category filter, sorting and pagination.
/** One price for a product: its only one, or "from" the lowest when its variants differ. */
function fromPrice(product) {
  const prices = product.variants.map((v) => v.price.amount);
  const lowest = product.variants[prices.indexOf(Math.min(...prices))].price;
  return new Set(prices).size > 1 ? `from ${money(lowest)}` : money(lowest);
}

/** Every active product, page by page: the list pages come from the edge (memory, Cache API, KV). */
async function wholeCatalog() {
  const items = [];
  let cursor = null;
  do {
    const page = await getJson(
      `/v1/products?${new URLSearchParams({ limit: "100", ...(cursor ? { cursor } : {}) })}`,
    );
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && items.length < 2000);
  return items;
}

const SORTS = {
  relevance: "Best match",
  "price-asc": "Price: low to high",
  "price-desc": "Price: high to low",
  title: "Name: A to Z",
};
const lowest = (product) => Math.min(...product.variants.map((v) => v.price.amount));

/**
 * Search and sort run here, over the catalog the edge serves, so a search costs the shop no
 * database query: every word must appear in the product's title, category, description or a SKU.
 */
function searchCatalog(items, q, sort) {
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  const scored = items.flatMap((product) => {
    const title = product.title.toLowerCase();
    const text = [title, product.category, product.description, ...product.variants.map((v) => v.sku)]
      .join(" ")
      .toLowerCase();
    if (!words.every((word) => text.includes(word))) return [];
    return [{ product, score: words.filter((word) => title.includes(word)).length }];
  });
  const by = {
    relevance: (a, b) => b.score - a.score || a.product.title.localeCompare(b.product.title),
    "price-asc": (a, b) => lowest(a.product) - lowest(b.product),
    "price-desc": (a, b) => lowest(b.product) - lowest(a.product),
    title: (a, b) => a.product.title.localeCompare(b.product.title),
  };
  return scored.sort(by[sort] ?? by.relevance).map((entry) => entry.product);
}

function productCard(product) {
  return el(
    "li",
    { "data-testid": "product-card" },
    // The whole card opens the product.
    el(
      "a",
      { class: "card", href: `/products/${product.slug}` },
      picture(product, 320),
      el("h2", {}, product.title),
      el("p", { class: "price" }, fromPrice(product)),
      el("p", { class: "muted" }, product.category),
    ),
  );
}

/** The search box, the category and the order: one GET form, so every result has its own URL. */
function browseForm({ q, category, sort, categories }) {
  const submit = (event) => event.target.form.submit();
  return el(
    "form",
    { class: "filter", method: "get", action: "/", role: "search" },
    el("label", { for: "q", class: "sr-only" }, "Search products"),
    el("input", {
      id: "q",
      name: "q",
      type: "search",
      value: q,
      placeholder: "Search products",
      "data-testid": "search",
      maxlength: "100",
    }),
    el("button", { type: "submit" }, "Search"),
    // Each label stays with its list when the form wraps on a narrow screen.
    el(
      "span",
      { class: "pick" },
      el("label", { for: "category" }, "Category"),
      el(
        "select",
        { id: "category", name: "category", onchange: submit },
        el("option", { value: "" }, "All"),
        categories.map((name) => el("option", { value: name, selected: name === category }, name)),
      ),
    ),
    el(
      "span",
      { class: "pick" },
      el("label", { for: "sort" }, "Sort"),
      el(
        "select",
        { id: "sort", name: "sort", onchange: submit, "data-testid": "sort" },
        Object.entries(SORTS).map(([value, label]) =>
          el("option", { value, selected: value === sort }, label),
        ),
      ),
    ),
  );
}

async function home() {
  const params = new URLSearchParams(location.search);
  const category = params.get("category") ?? "";
  const cursor = params.get("cursor");
  const q = (params.get("q") ?? "").trim().slice(0, 100);
  const sort = Object.hasOwn(SORTS, params.get("sort") ?? "") ? params.get("sort") : "relevance";
  const browsing = q !== "" || sort !== "relevance";
  const query = new URLSearchParams({
    limit: "12",
    ...(category ? { category } : {}),
    ...(cursor ? { cursor } : {}),
  });
  const featured = document.body.dataset.featured;
  const [all, page, banner] = await Promise.all([
    wholeCatalog(),
    browsing ? null : getJson(`/v1/products?${query}`),
    featured && !category && !cursor && !browsing ? featuredBanner(featured) : null,
  ]);
  const categories = [...new Set(all.map((p) => p.category))].sort();
  const form = browseForm({ q, category, sort, categories });
  const nav = el("nav", { class: "pager", "aria-label": "Pages" });
  if (!browsing) {
    const grid = el("ul", { class: "grid" }, page.items.map(productCard));
    if (cursor) nav.append(el("button", { type: "button", onclick: () => history.back() }, "← Previous"));
    if (page.nextCursor) {
      const next = new URLSearchParams({ ...(category ? { category } : {}), cursor: page.nextCursor });
      nav.append(el("a", { href: `/?${next}` }, "Next →"));
    }
    render(banner, el("h1", {}, "Products"), form, grid, nav);
    return;
  }
  const found = searchCatalog(
    all.filter((p) => !category || p.category === category),
    q,
    sort,
  );
  const heading = q ? `${found.length} ${found.length === 1 ? "result" : "results"} for “${q}”` : "Products";
  const none = el(
    "p",
    { "data-testid": "no-results" },
    "Nothing matches. Try fewer words, or ",
    el("a", { href: "/" }, "see every product"),
    ".",
  );
  render(
    el("h1", { "data-testid": "results-heading" }, heading),
    form,
    found.length > 0 ? el("ul", { class: "grid" }, found.map(productCard)) : none,
  );
}

/** What a missing product's page offers instead: a search for it, and the ways back into the shop. */
function lostAndFound(guess) {
  return el(
    "div",
    { class: "lost", "data-testid": "not-found-help" },
    el("p", {}, "It may have sold out and been taken down, or the link may be mistyped. Search the shop:"),
    el(
      "form",
      { class: "filter", method: "get", action: "/", role: "search" },
      el("label", { for: "q", class: "sr-only" }, "Search products"),
      el("input", { id: "q", name: "q", type: "search", value: guess, "data-testid": "search" }),
      el("button", { type: "submit" }, "Search"),
    ),
    el("p", {}, el("a", { href: "/" }, "All products"), " · ", el("a", { href: "/cart" }, "Your cart")),
  );
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
      error.status === 404 ? lostAndFound(slug.replace(/-/g, " ")) : null,
    );
    return;
  }
  document.title = `${item.title} · Stampede`;
  // A product sold by draw is entered, not added to a cart: the draw takes the place of stock and button.
  if (item.draw) {
    render(el("h1", {}, item.title), picture(item, 320), el("p", {}, item.description), drawPanel(item));
    return;
  }
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
      // Checkout asks for an address when anything in the cart ships.
      ships: item.requiresShipping !== false,
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

cart.save(cart.lines());
const pages = { home, product, cart: cartPage, order, challenge };
Promise.resolve()
  .then(() => pages[document.body.dataset.page]?.())
  .catch(() => say("The shop could not load. Check your connection and reload.", "error"));
