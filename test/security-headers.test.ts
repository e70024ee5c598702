import { describe, expect, it } from "vitest";
import { call } from "./helpers";

const PAGES = [
  "/",
  "/products/classic-tee",
  "/cart",
  "/orders/01JANYORDER000000000000000-0",
  "/pay/challenge/pi_sim_anything",
  "/admin",
  "/admin/orders",
  "/admin/orders/01JANYORDER000000000000000-0",
  "/admin/fulfillments",
  "/admin/products",
  "/admin/emails",
  "/admin/emails/anything",
  "/admin/discounts",
  "/admin/discounts/SPRING15",
  "/admin/pricing",
];

function directives(policy: string | null): Map<string, string[]> {
  expect(policy, "a Content-Security-Policy").toBeTruthy();
  return new Map(
    (policy ?? "").split(";").map((part) => {
      const [name = "", ...sources] = part.trim().split(/\s+/);
      return [name, sources] as const;
    }),
  );
}

describe("security headers", () => {
  it.each(PAGES)(
    "sends %s with a CSP that allows no inline code, no framing and no other base",
    async (path) => {
      const response = await call(path, { headers: { Accept: "text/html" } });
      expect(response.status).toBe(200);
      expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
      const policy = directives(response.headers.get("Content-Security-Policy"));
      expect(policy.get("frame-ancestors")).toEqual(["'none'"]);
      expect(policy.get("base-uri")).toEqual(["'none'"]);
      expect(policy.get("form-action")).toEqual(["'self'"]);
      expect(policy.get("object-src")).toEqual(["'none'"]);
      expect(policy.get("default-src")).toEqual(["'self'"]);
      for (const name of ["script-src", "style-src"]) {
        const sources = policy.get(name) ?? [];
        expect(sources).toContain("'self'");
        expect(sources).not.toContain("'unsafe-inline'");
        expect(sources).not.toContain("'unsafe-eval'");
        expect(sources).not.toContain("*");
      }
      expect(policy.get("script-src")).toEqual(
        expect.arrayContaining(["https://js.stripe.com", "https://challenges.cloudflare.com"]),
      );
      expect(policy.get("frame-src")).toEqual(
        expect.arrayContaining(["https://js.stripe.com", "https://challenges.cloudflare.com"]),
      );
      expect(response.headers.get("X-Frame-Options")).toBe("DENY");
      expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
      expect(response.headers.get("Referrer-Policy")).toBe(
        path.startsWith("/pay/challenge/") ? "no-referrer" : "strict-origin-when-cross-origin",
      );
    },
  );

  it("gives /docs a policy of its own: scripts from the shop only, inline styles for its renderer", async () => {
    const response = await call("/docs", { headers: { Accept: "text/html" } });
    expect(response.status).toBe(200);
    const policy = directives(response.headers.get("Content-Security-Policy"));
    // Nothing but files from this origin may run: no inline script, no eval, no third party.
    expect(policy.get("script-src")).toEqual(["'self'"]);
    expect(policy.get("connect-src")).toEqual(["'self'"]);
    expect(policy.get("default-src")).toEqual(["'self'"]);
    // The one loosening: the renderer's style attributes and nonce-less <style> elements.
    expect(policy.get("style-src")).toEqual(["'self'", "'unsafe-inline'"]);
    expect(policy.get("frame-ancestors")).toEqual(["'none'"]);
    expect(policy.get("base-uri")).toEqual(["'none'"]);
    expect(policy.get("object-src")).toEqual(["'none'"]);
    expect(response.headers.get("X-Frame-Options")).toBe("DENY");
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/<style/);
    // Every other page keeps the strict policy (the list above); the storefront's home as a witness.
    const home = directives(
      (await call("/", { headers: { Accept: "text/html" } })).headers.get("Content-Security-Policy"),
    );
    expect(home.get("style-src")).not.toContain("'unsafe-inline'");
  });

  it("gives a page that does not exist the same policy", async () => {
    const response = await call("/no-such-page", { headers: { Accept: "text/html" } });
    expect(response.status).toBe(404);
    expect(directives(response.headers.get("Content-Security-Policy")).get("frame-ancestors")).toEqual([
      "'none'",
    ]);
  });

  it("sends nosniff on every answer: JSON, problems, and those given from memory before routing", async () => {
    const answers = [
      await call("/v1/products?limit=1"),
      await call("/v1/products/classic-tee"),
      // The second read of a product comes from the isolate's memory, before the router.
      await call("/v1/products/classic-tee"),
      await call("/v1/no-such-route"),
      await call("/openapi.json"),
      await call("/v1/admin/orders"),
    ];
    for (const response of answers) {
      expect(response.headers.get("X-Content-Type-Options"), response.url).toBe("nosniff");
      // A policy is for documents; JSON answers carry none.
      expect(response.headers.get("Content-Security-Policy")).toBeNull();
    }
  });
});
