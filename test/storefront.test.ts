import { describe, expect, it } from "vitest";
import { productArt } from "../src/storefront/product-art";
import { TURNSTILE_TEST_SECRET } from "./fakes/turnstile.mjs";
import { call } from "./helpers";

describe("storefront pages", () => {
  it.each([
    ["/", "home"],
    ["/products/classic-tee", "product"],
    ["/cart", "cart"],
    ["/orders/01JANYORDER000000000000000", "order"],
    ["/admin", "admin"],
  ])("serves %s as the %s page shell, with its script and no framework", async (path, page) => {
    const response = await call(path);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain(`data-page="${page}"`);
    expect(html).toContain(page === "admin" ? "/assets/ops.js" : "/assets/store.js");
    expect(html).toContain('lang="en"');
    if (page !== "admin") expect(html).toContain('data-testid="cart-link"');
    expect(html.length).toBeLessThan(4096);
  });

  it("gives the page the Turnstile site key only when joining a queue needs a token", async () => {
    const siteKey = "1x00000000000000000000AA";
    const page = async (bindings: Partial<Env>) => (await call("/products/classic-tee", {}, bindings)).text();
    expect(await page({ TURNSTILE_SECRET: TURNSTILE_TEST_SECRET, TURNSTILE_SITE_KEY: siteKey })).toContain(
      `data-turnstile-key="${siteKey}"`,
    );
    // Without the secret no token is checked, so the page shows no widget.
    expect(await page({ TURNSTILE_SITE_KEY: siteKey })).toContain('data-turnstile-key=""');
  });
});

describe("product pictures drawn from the slug", () => {
  it("draws each product its own picture, the same one every time", () => {
    const slugs = ["everyday-hoodie", "everyday-chinos", "classic-tee", "summit-rain-jacket"];
    const art = slugs.map(productArt);
    expect(new Set(art).size).toBe(slugs.length);
    expect(productArt("everyday-hoodie")).toBe(art[0]);
    expect(art[3]).toContain(">RJ</text>");
  });

  it("serves it as an SVG with no script, cached for a day", async () => {
    const response = await call("/images/products/everyday-hoodie.svg");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^image\/svg\+xml/);
    expect(response.headers.get("Cache-Control")).toContain("max-age=86400");
    const svg = await response.text();
    expect(svg).toBe(productArt("everyday-hoodie"));
    expect(svg).not.toMatch(/<script|on\w+=/i);
  });

  it("answers 404 for a name that is not a slug", async () => {
    for (const path of [
      "/images/products/Bad_Name.svg",
      "/images/products/-x.svg",
      "/images/products/x.png",
    ]) {
      expect((await call(path)).status, path).toBe(404);
    }
  });
});

describe("the page for an address that does not exist", () => {
  it("offers a search of the shop and links back into it", async () => {
    const response = await call("/no/such/page", { headers: { Accept: "text/html" } });
    expect(response.status).toBe(404);
    const html = await response.text();
    expect(html).toMatch(/<form[^>]*action="\/"[^>]*role="search"/);
    expect(html).toContain('name="q"');
    expect(html).toContain('<a href="/">All products</a>');
  });
});
