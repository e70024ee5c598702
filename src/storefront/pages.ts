import { html, raw } from "hono/html";

export type Page = "home" | "product" | "cart" | "order" | "challenge" | "admin";

const titles: Record<Page, string> = {
  home: "Shop",
  product: "Product",
  cart: "Your cart",
  order: "Your order",
  challenge: "Confirm your payment",
  admin: "Operations",
};

/** How the shop's checkout pays: the simulator's test cards, Stripe, or not at all (not configured). */
type Payments = "simulated" | "stripe" | "off";

/** What a page tells its script about the shop; the keys are public by design, and empty when unused. */
export interface ShellOptions {
  payments: Payments;
  /** The product the home page features, by slug. */
  featured?: string;
  /** The publishable key the card form (Stripe Elements) uses when Stripe takes payments. */
  stripeKey?: string;
  /** The site key of the Turnstile widget a drop's queue shows when joining needs its token. */
  turnstileKey?: string;
}

/**
 * The shell every page shares: the header, a live region for messages, and the main element the
 * client script fills in for this page. No framework: plain modules and one stylesheet.
 */
export function shell(
  page: Page,
  { payments, featured = "", stripeKey = "", turnstileKey = "" }: ShellOptions,
) {
  const admin = page === "admin";
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${titles[page]} · Stampede</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
    <link rel="stylesheet" href="/assets/store.css" />
    <script type="module" src="${admin ? "/assets/ops.js" : "/assets/store.js"}"></script>
  </head>
  <body data-page="${page}" data-payments="${payments}" data-featured="${featured}" data-stripe-key="${stripeKey}" data-turnstile-key="${turnstileKey}">
    <header class="top">
      <a class="brand" href="/">Stampede</a>
      ${admin ? raw('<span class="tag">Operations</span>') : raw('<a href="/cart" data-testid="cart-link" class="cart-link">Cart (<span id="cart-count">0</span>)</a>')}
    </header>
    <p id="notice" role="status" aria-live="polite" class="notice" hidden></p>
    <main id="app" tabindex="-1"><p class="muted">Loading…</p></main>
    <noscript><p>This shop needs JavaScript to load its live stock and cart.</p></noscript>
  </body>
</html>`;
}

/** What a browser is shown for a page that does not exist, instead of an API problem document. */
export function notFoundPage() {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Not found · Stampede</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
    <link rel="stylesheet" href="/assets/store.css" />
  </head>
  <body>
    <header class="top"><a class="brand" href="/">Stampede</a></header>
    <main id="app">
      <h1>Page not found</h1>
      <p>There is nothing at this address. Search the shop for what you were after:</p>
      <form class="filter" method="get" action="/" role="search">
        <label for="q" class="sr-only">Search products</label>
        <input id="q" name="q" type="search" placeholder="Search products" maxlength="100" data-testid="search" />
        <button type="submit">Search</button>
      </form>
      <ul>
        <li><a href="/">All products</a></li>
        <li><a href="/cart">Your cart</a></li>
        <li><a href="/docs">API reference</a> (for developers)</li>
      </ul>
    </main>
  </body>
</html>`;
}
