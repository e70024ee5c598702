import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  ADMIN,
  admin,
  call,
  checkoutBody,
  claimOf,
  counting,
  createProduct,
  postCheckout,
  stockedSku,
  stockOf,
  unique,
} from "./helpers";

const NOT_JSON = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
];

describe("a write with another media type than JSON", () => {
  /** Every route that takes a body, with what proves it changed nothing afterwards. */
  const routes = async () => {
    const product = await createProduct();
    const sku = product.variants[0]?.sku ?? "";
    await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 5 });
    return [
      { method: "POST", path: "/v1/checkout", headers: { "Idempotency-Key": unique("k") } },
      { method: "POST", path: "/v1/admin/products", headers: ADMIN },
      { method: "PUT", path: `/v1/admin/products/${product.id}`, headers: ADMIN },
      { method: "PUT", path: `/v1/admin/inventory/${sku}`, headers: ADMIN },
      { method: "POST", path: `/v1/admin/inventory/${sku}/adjustments`, headers: ADMIN },
    ].map((route) => ({ ...route, sku, product }));
  };

  it.each(NOT_JSON)("is refused with 415 on every body route, empty or not (%s)", async (type) => {
    for (const route of await routes()) {
      for (const body of [undefined, "onHand=3"]) {
        const response = await call(route.path, {
          method: route.method,
          headers: { ...route.headers, "Content-Type": type },
          body,
        });
        expect(response.status, `${route.method} ${route.path} ${body ?? "(empty)"}`).toBe(415);
        expect(response.headers.get("Content-Type")).toBe("application/problem+json");
        expect(await response.json()).toMatchObject({ code: "unsupported_media_type", status: 415 });
      }
      expect(await stockOf(route.sku)).toMatchObject({ onHand: 5, reserved: 0 });
      const product = await (await call(`/v1/products/${route.product.id}`)).json<{ title: string }>();
      expect(product.title).toBe(route.product.title);
    }
  });
});

describe("free text", () => {
  it.each([
    ["a NUL in the name", { customer: { email: "a@b.co", name: "Ann\u0000" } }],
    ["a control character in the name", { customer: { email: "a@b.co", name: "Ann\u0007" } }],
    ["a bidi override in the name", { customer: { email: "a@b.co", name: "Ann\u202Emoc.live" } }],
    ["a lone surrogate in the name", { customer: { email: "a@b.co", name: "Ann\uD800" } }],
    ["a blank payment token", { payment: { token: " " } }],
    ["a tab as payment token", { payment: { token: "\t" } }],
    ["a NUL in the payment token", { payment: { token: "tok_ok\u0000" } }],
    [
      "a control character in the address",
      { shippingAddress: { line1: "1 Main\u001b", city: "X", postalCode: "1", country: "US" } },
    ],
  ])("refuses %s with 400 and holds nothing", async (_, override) => {
    const sku = await stockedSku(3);
    const key = unique("text");
    const response = await postCheckout({ ...checkoutBody([{ sku, quantity: 1 }]), ...override }, key);
    expect(response.status).toBe(400);
    const problem = await response.json<{ code: string; errors: { path: string }[] }>();
    expect(problem.code).toBe("validation_failed");
    expect(problem.errors.length).toBeGreaterThan(0);
    expect(await stockOf(sku)).toMatchObject({ reserved: 0 });
    expect(await claimOf(key)).toBeNull();
  });

  it("keeps names in any script, and line breaks in a product description", async () => {
    const sku = await stockedSku(3);
    const name = { customer: { email: "a@b.co", name: "Zoë Ångström 山田 محمد" } };
    expect(
      (await postCheckout({ ...checkoutBody([{ sku, quantity: 1 }], "tok_down"), ...name })).status,
    ).toBe(202);
    const product = await createProduct({ description: "Soft.\nWarm.\tWashable." });
    expect(product.description).toBe("Soft.\nWarm.\tWashable.");
    const refused = await admin("POST", "/v1/admin/products", {
      ...product,
      id: undefined,
      updatedAt: undefined,
      slug: unique("p"),
      title: "Tee\u202E",
    });
    expect(refused.status).toBe(400);
  });
});

describe("methods and pages that do not exist", () => {
  it.each([
    ["GET", "/v1/checkout", "POST"],
    ["DELETE", "/v1/products/some-slug", "GET, HEAD"],
    ["POST", "/v1/orders/01ABC-1", "GET, HEAD"],
    ["PATCH", "/v1/inventory/SKU-1", "GET, HEAD"],
  ])("%s %s answers 405 with Allow: %s", async (method, path, allow) => {
    const response = await call(path, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get("Allow")).toBe(allow);
    expect(await response.json()).toMatchObject({ code: "method_not_allowed" });
  });

  it("answers an unknown path 404 as a page to a browser and as a problem to an API client", async () => {
    const page = await call("/no/such/page", { headers: { Accept: "text/html" } });
    expect(page.status).toBe(404);
    expect(page.headers.get("Content-Type")).toMatch(/text\/html/);
    expect(await page.text()).toContain("Page not found");
    const api = await call("/v1/no-such-thing", { headers: { Accept: "text/html" } });
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ code: "not_found" });
  });

  it("sends a browser's /favicon.ico to the shop's icon", async () => {
    const response = await call("/favicon.ico", { redirect: "manual" });
    expect(response.status).toBe(301);
    expect(response.headers.get("Location")).toBe("/favicon.svg");
  });
});

describe("SKUs the catalog does not sell", () => {
  it("are refused without creating or reaching an inventory object", async () => {
    const objects = counting(env.INVENTORY, ["getByName", "get", "idFromName"]);
    const read = await call(`/v1/inventory/${unique("NO-SUCH")}`, {}, { INVENTORY: objects.binding });
    expect(read.status).toBe(404);
    expect(await read.json()).toMatchObject({ code: "sku_not_found" });
    const bought = await postCheckout(
      checkoutBody([{ sku: unique("NO-SUCH"), quantity: 1 }]),
      unique("k"),
      {},
      { INVENTORY: objects.binding },
    );
    expect(bought.status).toBe(400);
    expect(objects.calls()).toBe(0);
  });
});
