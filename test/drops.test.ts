import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { customerKey } from "../src/shared/customer-key";
import {
  type Accepted,
  admin,
  call,
  cancelOrder,
  checkoutBody,
  createProduct,
  type ProductBody,
  postCheckout,
  productInput,
  settledOrder,
  shardOfTestKey,
  silenceQueue,
  stallFirstReserve,
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

describe("limits per customer", () => {
  it("folds an email's case, +tag and Gmail dots into one customer", () => {
    expect(customerKey("Jane.Doe+drop1@GMail.com")).toBe("janedoe@gmail.com");
    expect(customerKey("janedoe@googlemail.com")).toBe("janedoe@gmail.com");
    expect(customerKey("Jane.Doe+x@Example.com")).toBe("jane.doe@example.com");
    expect(customerKey("jane.doe@example.com")).not.toBe(customerKey("janedoe@example.com"));
  });

  it("lets one of a customer's racing carts through on a split SKU, whatever the spelling of the email", async () => {
    const product = await dropProduct({}, [{ maxPerCustomer: 1 }]);
    const sku = skuOf(product, 0);
    expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand: 20, buckets: 4 })).status).toBe(200);
    const emails = ["Racer@gmail.com", "r.a.c.e.r+1@gmail.com", "racer+2@googlemail.com", "RACER@GMAIL.COM"];
    const responses = await Promise.all(
      [...emails, ...emails].map((email) =>
        postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok", { customer: { email } })),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
    const refused = await Promise.all(responses.filter((r) => r.status === 409).map((r) => r.json()));
    for (const problem of refused) {
      expect(problem).toMatchObject({
        code: "purchase_limit_exceeded",
        limit: { scope: "sku", sku, per: "customer", max: 1 },
        requested: 1,
        remaining: 0,
      });
    }
    // Nothing of the refused carts stays held; another customer buys as usual.
    const stock = await stockOf(sku);
    expect(stock.onHand - stock.available).toBeLessThanOrEqual(1);
    const other = await postCheckout(
      checkoutBody([{ sku, quantity: 1 }], "tok_ok", { customer: { email: "other@gmail.com" } }),
    );
    expect(other.status).toBe(202);
  }, 60_000);

  it("gives the allowance back when the order fails or is cancelled, and keeps it once paid", async () => {
    const product = await dropProduct({}, [{ maxPerCustomer: 1 }, {}]);
    const sku = skuOf(product, 0);
    const buyer = { customer: { email: unique("buyer").concat("@example.com") } };
    const declined = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_declined", buyer));
    expect(declined.status).toBe(202);
    const failed = await declined.json<Accepted>();
    expect(await settledOrder(failed.orderId, failed.orderToken)).toMatchObject({ status: "payment_failed" });

    const kept = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok", buyer));
    expect(kept.status).toBe(202);
    const cancelledOne = await kept.json<Accepted>();
    // While it is held, a second cart is refused.
    const meanwhile = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok", buyer));
    expect(meanwhile.status).toBe(409);
    const cancelled = await cancelOrder(cancelledOne);
    if (cancelled.status === 200) {
      const again = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok", buyer));
      expect(again.status).toBe(202);
      const paid = await again.json<Accepted>();
      expect(await settledOrder(paid.orderId, paid.orderToken)).toMatchObject({ status: "paid" });
    } else {
      // Paid before the cancel could land: the allowance is spent all the same.
      expect(await settledOrder(cancelledOne.orderId, cancelledOne.orderToken)).toMatchObject({
        status: "paid",
      });
    }
    const after = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok", buyer));
    expect(after.status).toBe(409);
    expect(await after.json()).toMatchObject({ code: "purchase_limit_exceeded", remaining: 0 });
  }, 60_000);

  it("counts a product's limit over its variants, and applies a raised limit at the next checkout", async () => {
    const product = await dropProduct({ maxPerCustomer: 2 });
    const buyer = { customer: { email: unique("fan").concat("@example.com") } };
    const first = await postCheckout(
      checkoutBody(
        [
          { sku: skuOf(product, 0), quantity: 1 },
          { sku: skuOf(product, 1), quantity: 1 },
        ],
        "tok_ok",
        buyer,
      ),
    );
    expect(first.status).toBe(202);
    const over = await postCheckout(checkoutBody([{ sku: skuOf(product, 1), quantity: 1 }], "tok_ok", buyer));
    expect(over.status).toBe(409);
    expect(await over.json()).toMatchObject({
      code: "purchase_limit_exceeded",
      limit: { scope: "product", productId: product.id, per: "customer", max: 2 },
    });
    const { id, updatedAt: _, ...input } = product;
    expect((await admin("PUT", `/v1/admin/products/${id}`, { ...input, maxPerCustomer: 3 })).status).toBe(
      200,
    );
    const raised = await postCheckout(
      checkoutBody([{ sku: skuOf(product, 1), quantity: 1 }], "tok_ok", buyer),
    );
    expect(raised.status).toBe(202);
  }, 60_000);
});

describe("limits per customer across retries", () => {
  it("a retry that takes over a stalled attempt is not refused against that attempt's allowance", async () => {
    const product = await dropProduct({}, [{ maxPerCustomer: 1 }]);
    const sku = skuOf(product, 0);
    const key = unique("stalled");
    const body = checkoutBody([{ sku, quantity: 1 }], "tok_ok", {
      customer: { email: unique("s").concat("@x.io") },
    });
    // The first attempt holds the customer's allowance, then stalls on the stock.
    const { stalled, fail, restore } = stallFirstReserve((name) => !name.startsWith("~limit~"));
    try {
      const first = postCheckout(body, key);
      await stalled;
      const { keyHash, stub } = await shardOfTestKey(key);
      await runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec("UPDATE keys SET locked_until = 0 WHERE key_hash = ?", keyHash);
      });
      const retry = await postCheckout(body, key);
      expect(retry.status).toBe(202);
      fail();
      expect((await first).status).toBe(503);
    } finally {
      restore();
    }
  }, 60_000);

  it("does not keep a refusal over the limit under the key: the same request passes once the other order fails", async () => {
    const product = await dropProduct({}, [{ maxPerCustomer: 1 }]);
    const sku = skuOf(product, 0);
    const customer = { customer: { email: unique("w").concat("@x.io") } };
    const restoreQueue = silenceQueue();
    try {
      const pending = await postCheckout(checkoutBody([{ sku, quantity: 1 }], "tok_ok", customer));
      expect(pending.status).toBe(202);
      const other = await pending.json<Accepted>();
      const key = unique("again");
      const body = checkoutBody([{ sku, quantity: 1 }], "tok_ok", customer);
      const refused = await postCheckout(body, key);
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({ code: "purchase_limit_exceeded" });
      expect((await cancelOrder(other)).status).toBe(200);
      const passed = await postCheckout(body, key);
      expect(passed.status).toBe(202);
      expect(passed.headers.get("Idempotent-Replayed")).toBeNull();
    } finally {
      restoreQueue();
    }
  }, 60_000);

  it("fails no large cart for its allowance lines", async () => {
    const product = await createProduct({
      maxPerCustomer: 100,
      variants: Array.from({ length: 30 }, (_, i) => ({
        sku: `${unique("L").toUpperCase()}-${i}`,
        title: `V${i}`,
        price: { amount: 100, currency: "USD" },
        attributes: {},
        maxPerCustomer: 5,
      })),
    });
    for (const variant of product.variants) {
      expect((await admin("PUT", `/v1/admin/inventory/${variant.sku}`, { onHand: 3 })).status).toBe(200);
    }
    const cart = product.variants.map((variant) => ({ sku: variant.sku, quantity: 1 }));
    const response = await postCheckout(
      checkoutBody(cart, "tok_ok", { customer: { email: unique("big").concat("@x.io") } }),
    );
    expect(response.status).toBe(202);
  }, 60_000);

  it("folds an address with nothing before its +tag into one customer", () => {
    expect(customerKey("+1@gmail.com")).toBe(customerKey("+2@gmail.com"));
  });
});
