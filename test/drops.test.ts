import { describe, expect, it } from "vitest";
import {
  admin,
  call,
  checkoutBody,
  createProduct,
  type ProductBody,
  postCheckout,
  productInput,
  stockOf,
  unique,
} from "./helpers";

/** A product of two variants with these drop rules, both variants stocked with 10 units. */
async function dropProduct(
  rules: Record<string, unknown>,
  variantRules: Record<string, unknown>[] = [{}, {}],
) {
  const base = productInput();
  const prefix = base.slug.toUpperCase();
  const product = await createProduct({
    slug: base.slug,
    ...rules,
    variants: variantRules.map((own, i) => ({
      sku: `${prefix}-${i}`,
      title: `V${i}`,
      price: { amount: 1000, currency: "USD" },
      attributes: {},
      ...own,
    })),
  });
  for (const variant of product.variants) {
    expect((await admin("PUT", `/v1/admin/inventory/${variant.sku}`, { onHand: 10 })).status).toBe(200);
  }
  return product;
}

const skuOf = (product: ProductBody, i: number) => product.variants[i]?.sku ?? "";
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
const anHourAgo = () => new Date(Date.now() - 3_600_000).toISOString();

describe("a drop's start time", () => {
  it("refuses checkout before the start with the time, holds nothing, and sells once it has started", async () => {
    const startsAt = inAnHour();
    const product = await dropProduct({ saleStartsAt: startsAt });
    const sku = skuOf(product, 0);
    const key = unique("key");
    const early = await postCheckout(checkoutBody([{ sku, quantity: 1 }]), key);
    expect(early.status).toBe(409);
    expect(Number(early.headers.get("Retry-After"))).toBeGreaterThan(3500);
    expect(await early.json()).toMatchObject({
      code: "sale_not_started",
      saleStartsAt: startsAt,
      skus: [{ sku, saleStartsAt: startsAt }],
    });
    expect(await stockOf(sku)).toMatchObject({ onHand: 10, reserved: 0, available: 10 });

    // The product page shows the start, and the start moves: the same request now sells.
    const shown = await (await call(`/v1/products/${product.slug}`)).json<{ saleStartsAt: string }>();
    expect(shown.saleStartsAt).toBe(startsAt);
    const { id, updatedAt: _, ...input } = product;
    expect(
      (await admin("PUT", `/v1/admin/products/${id}`, { ...input, saleStartsAt: anHourAgo() })).status,
    ).toBe(200);
    const started = await postCheckout(checkoutBody([{ sku, quantity: 1 }]), key);
    expect(started.status).toBe(202);
  });

  it("lets a variant's own start time win over its product's", async () => {
    const product = await dropProduct({ saleStartsAt: inAnHour() }, [{ saleStartsAt: anHourAgo() }, {}]);
    expect((await postCheckout(checkoutBody([{ sku: skuOf(product, 0), quantity: 1 }]))).status).toBe(202);
    const later = await postCheckout(checkoutBody([{ sku: skuOf(product, 1), quantity: 1 }]));
    expect(later.status).toBe(409);
    expect(await later.json()).toMatchObject({
      code: "sale_not_started",
      skus: [{ sku: skuOf(product, 1) }],
    });
    // A cart with an item not on sale yet holds nothing at all, the started item included.
    const mixed = await postCheckout(
      checkoutBody([
        { sku: skuOf(product, 0), quantity: 1 },
        { sku: skuOf(product, 1), quantity: 1 },
      ]),
    );
    expect(mixed.status).toBe(409);
    expect(await stockOf(skuOf(product, 0))).toMatchObject({ available: 9 });
  });
});

describe("limits per order", () => {
  it("refuses more of a SKU than its maxPerOrder, with the limit, and holds nothing", async () => {
    const product = await dropProduct({}, [{ maxPerOrder: 2 }, {}]);
    const sku = skuOf(product, 0);
    const over = await postCheckout(checkoutBody([{ sku, quantity: 3 }]));
    expect(over.status).toBe(409);
    expect(await over.json()).toMatchObject({
      code: "purchase_limit_exceeded",
      limit: { scope: "sku", sku, per: "order", max: 2 },
      requested: 3,
    });
    expect(await stockOf(sku)).toMatchObject({ reserved: 0, available: 10 });
    expect((await postCheckout(checkoutBody([{ sku, quantity: 2 }]))).status).toBe(202);
  });

  it("counts a product's maxPerOrder over all its variants in the order", async () => {
    const product = await dropProduct({ maxPerOrder: 2 });
    const over = await postCheckout(
      checkoutBody([
        { sku: skuOf(product, 0), quantity: 1 },
        { sku: skuOf(product, 1), quantity: 2 },
      ]),
    );
    expect(over.status).toBe(409);
    expect(await over.json()).toMatchObject({
      code: "purchase_limit_exceeded",
      limit: { scope: "product", productId: product.id, max: 2 },
      requested: 3,
    });
    const within = await postCheckout(
      checkoutBody([
        { sku: skuOf(product, 0), quantity: 1 },
        { sku: skuOf(product, 1), quantity: 1 },
      ]),
    );
    expect(within.status).toBe(202);
  });

  it("refuses rules that make no sense with 400 and changes nothing", async () => {
    for (const rules of [{ maxPerOrder: 0 }, { maxPerOrder: 1.5 }, { saleStartsAt: "tomorrow" }]) {
      const response = await admin("POST", "/v1/admin/products", productInput(rules));
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: "validation_failed" });
    }
  });
});
