import { describe, expect, it } from "vitest";
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
