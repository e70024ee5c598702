import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type DiscountTerms,
  divideHalfUp,
  lineRefund,
  type PricingLine,
  priceOrder,
  refundShares,
  shippingCharge,
  spread,
  type TaxTerms,
  taxOf,
} from "../../src/pricing/pricing";
import { methodsFor, PricingSettingsInput, taxTermsFor, zoneFor } from "../../src/pricing/pricing.settings";

/** The pricing maths alone: no workerd, a fixed clock. */
const NOW = Date.UTC(2026, 11, 6, 12);
const SEED = Number(process.env.PRICING_SEED ?? 20261206);

const tee = (quantity = 1, unitPrice = 2_000): PricingLine => ({
  sku: "TEE-M",
  productId: "p-tee",
  category: "tops",
  quantity,
  unitPrice,
  ships: true,
});
const mug = (quantity = 1, unitPrice = 1_250): PricingLine => ({
  sku: "MUG",
  productId: "p-mug",
  category: "home",
  quantity,
  unitPrice,
  ships: true,
});
const giftCard: PricingLine = {
  sku: "GIFT-50",
  productId: "p-gift",
  category: "gift",
  quantity: 1,
  unitPrice: 5_000,
  ships: false,
};

function priced(input: Parameters<typeof priceOrder>[0]) {
  const result = priceOrder(input);
  if ("mismatch" in result) throw new Error(`code does not apply: ${result.mismatch}`);
  return result;
}

describe("rounding", () => {
  it("rounds halves up and everything else to the nearest minor unit", () => {
    expect(divideHalfUp(5, 10)).toBe(1);
    expect(divideHalfUp(4, 10)).toBe(0);
    expect(divideHalfUp(15, 10)).toBe(2);
    expect(divideHalfUp(14, 10)).toBe(1);
    expect(divideHalfUp(0, 7)).toBe(0);
  });

  it("spreads an amount by largest remainder, earlier parts first on a tie", () => {
    expect(spread(100, [1, 1, 1])).toEqual([34, 33, 33]);
    expect(spread(10, [3, 0, 7])).toEqual([3, 0, 7]);
    expect(spread(1, [5, 5])).toEqual([1, 0]);
    expect(spread(0, [5, 5])).toEqual([0, 0]);
    expect(spread(7, [0, 0])).toEqual([0, 0]);
  });

  it("spread's parts add up to the whole and never exceed their weight", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1_000_000_000 }), { minLength: 1, maxLength: 12 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (weights, fraction) => {
          const sum = weights.reduce((a, b) => a + b, 0);
          const whole = Math.floor(sum * fraction);
          const parts = spread(whole, weights);
          expect(parts.reduce((a, b) => a + b, 0)).toBe(sum === 0 ? 0 : whole);
          parts.forEach((part, index) => {
            expect(part).toBeGreaterThanOrEqual(0);
            expect(part).toBeLessThanOrEqual(weights[index] ?? 0);
          });
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("discounts", () => {
  const percent = (value: number, more: Partial<DiscountTerms> = {}): DiscountTerms => ({
    code: "SALE",
    kind: "percentage",
    percent: value,
    ...more,
  });

  it("takes a percentage once of what it applies to, rounded half up, spread over the lines", () => {
    // 15 % of 2 x 1999 + 1250 = 5248 is 787.2 -> 787.
    const result = priced({ lines: [tee(2, 1_999), mug()], discount: percent(1_500), now: NOW });
    expect(result.totals.discount).toBe(787);
    expect(result.lines.map((line) => line.discount)).toEqual([600, 187]);
    expect(result.totals.total).toBe(5_248 - 787);
  });

  it("limits a code to its products or categories", () => {
    const result = priced({
      lines: [tee(1), mug(1)],
      discount: percent(5_000, { appliesTo: { categories: ["home"] } }),
      now: NOW,
    });
    expect(result.lines.map((line) => line.discount)).toEqual([0, 625]);
  });

  it("takes a fixed amount per order, never more than the lines it applies to", () => {
    const fixed: DiscountTerms = { code: "TENOFF", kind: "fixed", amount: 1_000, per: "order" };
    expect(priced({ lines: [tee(1), mug(1)], discount: fixed, now: NOW }).totals.discount).toBe(1_000);
    const big: DiscountTerms = { ...fixed, amount: 100_000 };
    const all = priced({ lines: [tee(1)], discount: big, now: NOW });
    expect(all.totals.discount).toBe(2_000);
    expect(all.totals.total).toBe(0);
  });

  it("takes a fixed amount per unit of each line it applies to", () => {
    const perUnit: DiscountTerms = {
      code: "TWO",
      kind: "fixed",
      amount: 200,
      per: "unit",
      appliesTo: { products: ["p-tee"] },
    };
    const result = priced({ lines: [tee(3), mug(2)], discount: perUnit, now: NOW });
    expect(result.lines.map((line) => line.discount)).toEqual([600, 0]);
  });

  it("makes shipping free with a free-shipping code, and says so in the discount", () => {
    const result = priced({
      lines: [tee(1)],
      discount: { code: "SHIPFREE", kind: "free_shipping" },
      shipping: { kind: "flat", amount: 495 },
      now: NOW,
    });
    expect(result.totals).toEqual({ subtotal: 2_000, discount: 495, shipping: 495, tax: 0, total: 2_000 });
  });

  it("refuses a code that does not apply, saying why", () => {
    const lines = [tee(1)];
    expect(priceOrder({ lines, discount: percent(1_000, { startsAt: NOW + 1 }), now: NOW })).toEqual({
      mismatch: "not_started",
    });
    expect(priceOrder({ lines, discount: percent(1_000, { endsAt: NOW }), now: NOW })).toEqual({
      mismatch: "expired",
    });
    expect(priceOrder({ lines, discount: percent(1_000, { minSubtotal: 2_001 }), now: NOW })).toEqual({
      mismatch: "below_minimum",
    });
    expect(
      priceOrder({ lines, discount: percent(1_000, { appliesTo: { products: ["p-other"] } }), now: NOW }),
    ).toEqual({ mismatch: "no_matching_items" });
  });

  it("counts a code's minimum on the lines it applies to", () => {
    const code = percent(1_000, { appliesTo: { categories: ["home"] }, minSubtotal: 2_000 });
    expect(priceOrder({ lines: [tee(5), mug(1)], discount: code, now: NOW })).toEqual({
      mismatch: "below_minimum",
    });
  });
});

describe("shipping", () => {
  it("charges flat, by subtotal bands, or free above a threshold", () => {
    expect(shippingCharge({ kind: "flat", amount: 500 }, 10)).toBe(500);
    const bands = {
      kind: "bands" as const,
      bands: [
        { from: 5_000, amount: 300 },
        { from: 0, amount: 800 },
        { from: 10_000, amount: 0 },
      ],
    };
    expect(shippingCharge(bands, 4_999)).toBe(800);
    expect(shippingCharge(bands, 5_000)).toBe(300);
    expect(shippingCharge(bands, 12_000)).toBe(0);
    expect(shippingCharge({ kind: "free_above", amount: 600, threshold: 5_000 }, 4_999)).toBe(600);
    expect(shippingCharge({ kind: "free_above", amount: 600, threshold: 5_000 }, 5_000)).toBe(0);
  });

  it("judges the bands on the subtotal after the discount", () => {
    const result = priced({
      lines: [tee(3)],
      discount: { code: "TENOFF", kind: "fixed", amount: 1_500, per: "order" },
      shipping: { kind: "free_above", amount: 600, threshold: 5_000 },
      now: NOW,
    });
    expect(result.totals.shipping).toBe(600);
  });

  it("charges no shipping for a cart with nothing that ships", () => {
    const result = priced({ lines: [giftCard], shipping: { kind: "flat", amount: 500 }, now: NOW });
    expect(result.totals.shipping).toBe(0);
  });
});

describe("tax", () => {
  const us: TaxTerms = { mode: "exclusive", rate: 825, onShipping: false };
  const de: TaxTerms = { mode: "inclusive", rate: 1_900, onShipping: true };

  it("adds exclusive tax per line on top, rounded half up", () => {
    // 8.25 % of 1999 = 164.9175 -> 165; of 1250 = 103.125 -> 103.
    const result = priced({ lines: [tee(1, 1_999), mug()], tax: us, now: NOW });
    expect(result.lines.map((line) => line.tax)).toEqual([165, 103]);
    expect(result.totals).toEqual({ subtotal: 3_249, discount: 0, shipping: 0, tax: 268, total: 3_517 });
  });

  it("finds inclusive tax inside the price, shipping included where the zone says", () => {
    // 19 % inside 2000: 2000 - 2000 / 1.19 = 319.33 -> 2000 - 1681 = 319; inside 500: 500 - 420 = 80.
    const result = priced({ lines: [tee(1)], tax: de, shipping: { kind: "flat", amount: 500 }, now: NOW });
    expect(result.totals).toEqual({ subtotal: 2_000, discount: 0, shipping: 500, tax: 399, total: 2_500 });
  });

  it("taxes what a line costs after its discount", () => {
    const result = priced({
      lines: [tee(1)],
      discount: { code: "HALF", kind: "percentage", percent: 5_000 },
      tax: us,
      now: NOW,
    });
    // 8.25 % of 1000 = 82.5 -> 83.
    expect(result.totals).toEqual({ subtotal: 2_000, discount: 1_000, shipping: 0, tax: 83, total: 1_083 });
  });

  it("never finds more tax inside an amount than the amount", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (amount, rate) => {
          const inside = taxOf(amount, { mode: "inclusive", rate, onShipping: false });
          expect(inside).toBeGreaterThanOrEqual(0);
          expect(inside).toBeLessThanOrEqual(amount);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("totals of any cart", () => {
  const line = fc.record({
    sku: fc.constantFrom("A", "B", "C", "D"),
    productId: fc.constantFrom("p1", "p2", "p3"),
    category: fc.constantFrom("tops", "home"),
    quantity: fc.integer({ min: 1, max: 50 }),
    unitPrice: fc.integer({ min: 0, max: 5_000_000 }),
    ships: fc.boolean(),
  });
  const discount: fc.Arbitrary<DiscountTerms | undefined> = fc.option(
    fc.oneof(
      fc.record({
        code: fc.constant("P"),
        kind: fc.constant("percentage" as const),
        percent: fc.integer({ min: 1, max: 10_000 }),
      }),
      fc.record({
        code: fc.constant("F"),
        kind: fc.constant("fixed" as const),
        amount: fc.integer({ min: 1, max: 10_000_000 }),
        per: fc.constantFrom("order" as const, "unit" as const),
      }),
      fc.record({ code: fc.constant("S"), kind: fc.constant("free_shipping" as const) }),
    ),
    { nil: undefined },
  );
  const tax = fc.record({
    mode: fc.constantFrom("inclusive" as const, "exclusive" as const),
    rate: fc.integer({ min: 0, max: 3_000 }),
    onShipping: fc.boolean(),
  });

  it("add up: total = subtotal - discount + shipping (+ tax on top), nothing below zero", () => {
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 6 }),
        discount,
        tax,
        fc.integer({ min: 0, max: 5_000 }),
        (lines, terms, taxTerms, shipping) => {
          const result = priced({
            lines,
            discount: terms,
            tax: taxTerms,
            shipping: { kind: "flat", amount: shipping },
            now: NOW,
          });
          const { totals } = result;
          const onTop = taxTerms.mode === "exclusive" ? totals.tax : 0;
          expect(totals.total).toBe(totals.subtotal - totals.discount + totals.shipping + onTop);
          expect(totals.total).toBe(
            result.lines.reduce((sum, priced) => sum + priced.charged, 0) + result.shipping.charged,
          );
          for (const priced of result.lines) {
            expect(priced.discount).toBeGreaterThanOrEqual(0);
            expect(priced.discount).toBeLessThanOrEqual(priced.subtotal);
            expect(priced.charged).toBeGreaterThanOrEqual(0);
          }
          expect(totals.discount).toBeLessThanOrEqual(totals.subtotal + totals.shipping);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });
});

describe("refunds", () => {
  it("gives back a line's charge unit by unit, exactly the whole in the end", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 100_000_000 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 40 }),
        (quantity, charged, steps) => {
          let before = 0;
          let back = 0;
          for (const units of steps) {
            if (before >= quantity) break;
            const amount = lineRefund({ quantity, charged }, before, units);
            expect(amount).toBeGreaterThanOrEqual(0);
            back += amount;
            before = Math.min(quantity, before + units);
          }
          back += lineRefund({ quantity, charged }, before, quantity - before);
          expect(back).toBe(charged);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("gives back a discounted, taxed line's share: 1 of 3 units of a line charged 1001", () => {
    expect(lineRefund({ quantity: 3, charged: 1_001 }, 0, 1)).toBe(333);
    expect(lineRefund({ quantity: 3, charged: 1_001 }, 1, 1)).toBe(334);
    expect(lineRefund({ quantity: 3, charged: 1_001 }, 2, 1)).toBe(334);
  });

  it("carries the order's discount and tax in proportion, all of it once all is refunded", () => {
    const totals = { discount: 787, tax: 268, total: 4_461 };
    const first = refundShares(totals, 0, 1_000);
    const second = refundShares(totals, 1_000, 3_461);
    expect(first).toEqual({ discount: 176, tax: 60 });
    expect(first.discount + second.discount).toBe(787);
    expect(first.tax + second.tax).toBe(268);
    expect(refundShares(totals, 4_461, 10)).toEqual({ discount: 0, tax: 0 });
  });
});

describe("where a cart ships and what tax it pays", () => {
  const settings = PricingSettingsInput.parse({
    taxMode: "exclusive",
    taxRates: [
      { country: "US", rate: 0 },
      { country: "US", region: "CA", rate: 7.25 },
      { country: "US", region: "NY", rate: 8.88 },
    ],
    zones: [
      {
        id: "us",
        name: "United States",
        countries: [{ country: "US" }],
        methods: [
          { id: "ground", name: "Ground", currency: "USD", rate: { kind: "flat", amount: 800 } },
          { id: "ground-cad", name: "Ground", currency: "CAD", rate: { kind: "flat", amount: 900 } },
        ],
      },
      {
        id: "west",
        name: "West coast",
        countries: [{ country: "US", regions: ["ca", "OR"] }],
        taxShipping: true,
        methods: [{ id: "local", name: "Local", currency: "USD", rate: { kind: "flat", amount: 300 } }],
      },
    ],
  });
  const shop = { ...settings, version: 1, updatedAt: null };

  it("picks the zone naming the region over the one naming the country, in the cart's currency", () => {
    expect(methodsFor(shop, { country: "US", region: "CA" }, "USD").map((method) => method.id)).toEqual([
      "local",
    ]);
    expect(methodsFor(shop, { country: "US", region: "TX" }, "USD").map((method) => method.id)).toEqual([
      "ground",
    ]);
    expect(methodsFor(shop, { country: "US" }, "CAD").map((method) => method.id)).toEqual(["ground-cad"]);
    expect(methodsFor(shop, { country: "FR" }, "USD")).toEqual([]);
    expect(zoneFor(shop, { country: "US", region: " ca " })?.id).toBe("west");
  });

  it("taxes at the region's rate, else the country's, shipping where the zone says", () => {
    expect(taxTermsFor(shop, { country: "US", region: "CA" })).toEqual({
      mode: "exclusive",
      rate: 725,
      onShipping: true,
    });
    expect(taxTermsFor(shop, { country: "US", region: "NY" })).toEqual({
      mode: "exclusive",
      rate: 888,
      onShipping: false,
    });
    expect(taxTermsFor(shop, { country: "US", region: "TX" })).toEqual({
      mode: "exclusive",
      rate: 0,
      onShipping: false,
    });
    expect(taxTermsFor(shop, { country: "FR" })).toEqual({ mode: "exclusive", rate: 0, onShipping: false });
    expect(taxTermsFor(shop, null)).toEqual({ mode: "exclusive", rate: 0, onShipping: false });
  });
});
