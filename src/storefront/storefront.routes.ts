import type { Context } from "hono";
import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";
import { paymentMode } from "../shared/config";
import { AppError } from "../shared/errors";
import { type Page, shell } from "./pages";
import { isArtSlug, productArt } from "./product-art";

/**
 * The shop and the ops page: HTML shells served by the worker; their script and stylesheet are
 * static assets (public/assets) that the client fills each page from the public and admin APIs.
 */
const page = (name: Page) => (c: Context<AppEnv>) => {
  c.header("Cache-Control", "no-cache");
  // The challenge's URL is a capability: it leaves the page with no link or request.
  if (name === "challenge") c.header("Referrer-Policy", "no-referrer");
  // The admin's email screen frames the shop's preview of an email (under that page's own policy).
  if (name === "admin") c.set("framesSelf", true);
  const mode = paymentMode(c.env);
  const payments = mode.ready ? mode.provider : "off";
  const stripeKey = payments === "stripe" ? (c.env.STRIPE_PUBLISHABLE_KEY ?? "") : "";
  // The widget only where its token is checked: without the secret, joining needs no token.
  const turnstileKey = c.env.TURNSTILE_SECRET ? (c.env.TURNSTILE_SITE_KEY ?? "") : "";
  return c.html(shell(name, { payments, featured: c.env.FEATURED_PRODUCT ?? "", stripeKey, turnstileKey }));
};

export const storefrontRoutes = new Hono<AppEnv>()
  .get("/", page("home"))
  .get("/products/:slug", page("product"))
  .get("/cart", page("cart"))
  .get("/orders/:id", page("order"))
  // The payment simulator's 3-D Secure challenge, as a bank's page would show it.
  .get("/pay/challenge/:id", page("challenge"))
  .get("/admin", page("admin"))
  // The operator's screens: the same shell, whose script picks the screen from the path.
  .get("/admin/orders", page("admin"))
  .get("/admin/orders/:id", page("admin"))
  .get("/admin/fulfillments", page("admin"))
  .get("/admin/products", page("admin"))
  .get("/admin/emails", page("admin"))
  .get("/admin/emails/:id", page("admin"))
  .get("/admin/discounts", page("admin"))
  .get("/admin/discounts/:code", page("admin"))
  .get("/admin/pricing", page("admin"))
  // A product's own picture, drawn from its slug (the demo catalog's, and any product without one).
  .get("/images/products/:file", (c) => {
    const file = c.req.param("file");
    const slug = file.replace(/\.svg$/, "");
    if (!file.endsWith(".svg") || !isArtSlug(slug)) {
      throw new AppError("not_found", { detail: `No picture ${file}: pictures are named <slug>.svg` });
    }
    return c.body(productArt(slug), 200, {
      "Content-Type": "image/svg+xml; charset=utf-8",
      "Cache-Control": "public, max-age=86400, immutable",
    });
  })
  // Browsers ask for this on every page; the icon is a static asset.
  .get("/favicon.ico", (c) => c.redirect("/favicon.svg", 301));
