/**
 * The pricing of one order: what each line costs, what a discount code takes off, what shipping costs
 * and what tax is in (or on top of) it. Pure arithmetic over integer minor units, so the same cart
 * always comes to the same totals, at checkout, in the order's views and in its refunds.
 *
 * Rounding, the only places it happens (the README's "Money" section says the same):
 * - a percentage is taken once, of the whole amount it applies to, rounded half up to a minor unit;
 * - an amount taken off (or a refund) spread over lines is spread in proportion to what each line
 *   costs, by largest remainder: every line gets the floor of its share, and the minor units left over
 *   go one each to the lines with the largest remainders (the earlier line first on a tie), so the
 *   parts always add up to the whole;
 * - tax is worked out per line (and once for shipping) on what that line costs after its discount,
 *   rounded half up: on top of the price (`exclusive`) or as the part of the price that is tax
 *   (`inclusive`: the line less the line divided by 1 + rate);
 * - a refund of some units of a line gives back that share of what the line was charged (after its
 *   discount, with its tax): the first n units refunded give back floor(charged * n / quantity), so a
 *   line refunded unit by unit gives back exactly what it was charged, never a unit more.
 */

/** A rate in basis points: 1 = 0.01 %, 10_000 = 100 %. */
type BasisPoints = number;

export type PricingLine = {
  sku: string;
  productId: string;
  category: string;
  quantity: number;
  /** Price of one unit, in minor units, as the catalog gives it (tax included when the shop says so). */
  unitPrice: number;
  /** False for what does not ship (a gift card, a download): no shipping is charged for it. */
  ships: boolean;
};

/** What a discount code takes off, and what it applies to. */
export type DiscountTerms = {
  code: string;
  kind: "percentage" | "fixed" | "free_shipping";
  /** For `percentage`: the share taken off, in basis points (1_500 = 15 %). */
  percent?: BasisPoints;
  /** For `fixed`: minor units taken off, once per order or once per unit of the lines it applies to. */
  amount?: number;
  per?: "order" | "unit";
  /** Empty or absent: the whole cart. Otherwise lines of these products or categories. */
  appliesTo?: { products?: string[]; categories?: string[] };
  /** The subtotal (of the lines it applies to) below which the code does not apply. */
  minSubtotal?: number;
  startsAt?: number;
  endsAt?: number;
};

/** How a shipping method charges, on the cart's subtotal after its discount. */
export type ShippingRate =
  | { kind: "flat"; amount: number }
  /** Bands by subtotal: the band with the largest `from` not above the subtotal applies. */
  | { kind: "bands"; bands: { from: number; amount: number }[] }
  /** A flat amount, free from `threshold` up. */
  | { kind: "free_above"; amount: number; threshold: number };

export type TaxTerms = {
  /** Prices entered with tax included (as in the EU) or tax added on top (as in the US). */
  mode: "inclusive" | "exclusive";
  rate: BasisPoints;
  /** Whether shipping is taxed too, at the same rate (the zone says). */
  onShipping: boolean;
};

/** Why a code does not apply to a cart (each is the buyer's `discount_not_applicable`). */
export type DiscountMismatch = "not_started" | "expired" | "below_minimum" | "no_matching_items";

export type PricedLine = {
  sku: string;
  quantity: number;
  /** quantity x unit price. */
  subtotal: number;
  /** What the code takes off this line. */
  discount: number;
  /** The tax of this line, included in or added to `subtotal - discount`. */
  tax: number;
  /** What the buyer pays for this line: subtotal - discount, plus tax when it comes on top. */
  charged: number;
};

export type Totals = {
  /** Sum of the lines at their prices. */
  subtotal: number;
  /** Taken off by the code: from the lines, and from shipping for a free-shipping code. */
  discount: number;
  /** Shipping at its rate, before any discount. */
  shipping: number;
  /** Tax: included in the amounts above (inclusive) or added by `total` (exclusive). */
  tax: number;
  /** What is charged: subtotal - discount + shipping, plus tax when it comes on top. */
  total: number;
};

export type Priced = {
  totals: Totals;
  lines: PricedLine[];
  shipping: { charge: number; discount: number; tax: number; charged: number };
};

export type PricingInput = {
  lines: PricingLine[];
  discount?: DiscountTerms | undefined;
  shipping?: ShippingRate | undefined;
  tax?: TaxTerms | undefined;
  now: number;
};

const TAX_FREE: TaxTerms = { mode: "exclusive", rate: 0, onShipping: false };

/** a / b rounded half up (a, b >= 0, b > 0), exact for any integers the shop can hold. */
export function divideHalfUp(a: number, b: number): number {
  const big = (2n * BigInt(a) + BigInt(b)) / (2n * BigInt(b));
  return Number(big);
}

/** a * n / d rounded down, exact. */
function shareDown(a: number, n: number, d: number): number {
  return Number((BigInt(a) * BigInt(n)) / BigInt(d));
}

/**
 * Spreads `whole` over parts in proportion to `weights` by largest remainder: each part gets the floor
 * of its share, the minor units left go one each to the largest remainders (the earlier part on a tie).
 * The parts add up to `whole` exactly; a part never exceeds its weight when `whole` <= the weights' sum.
 */
export function spread(whole: number, weights: number[]): number[] {
  const sum = weights.reduce((total, weight) => total + weight, 0);
  if (sum === 0 || whole === 0) return weights.map(() => 0);
  const big = BigInt(whole);
  const bigSum = BigInt(sum);
  const parts = weights.map((weight) => (big * BigInt(weight)) / bigSum);
  const remainders = weights.map((weight, index) => ({
    index,
    remainder: (big * BigInt(weight)) % bigSum,
  }));
  let left = whole - parts.reduce((total, part) => total + Number(part), 0);
  remainders.sort((a, b) =>
    a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1,
  );
  const result = parts.map(Number);
  for (const { index } of remainders) {
    if (left === 0) break;
    result[index] = (result[index] ?? 0) + 1;
    left--;
  }
  return result;
}

/** Whether a code's scope takes in a line: no scope means every line. */
function applies(terms: DiscountTerms, line: PricingLine): boolean {
  const products = terms.appliesTo?.products ?? [];
  const categories = terms.appliesTo?.categories ?? [];
  if (products.length === 0 && categories.length === 0) return true;
  return products.includes(line.productId) || categories.includes(line.category);
}

/** Whether a code applies to this cart now, or why not. */
function discountMismatch(terms: DiscountTerms, lines: PricingLine[], now: number): DiscountMismatch | null {
  if (terms.startsAt !== undefined && now < terms.startsAt) return "not_started";
  if (terms.endsAt !== undefined && now >= terms.endsAt) return "expired";
  const eligible = lines.filter((line) => applies(terms, line));
  if (eligible.length === 0) return "no_matching_items";
  const eligibleSubtotal = eligible.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0);
  if (terms.minSubtotal !== undefined && eligibleSubtotal < terms.minSubtotal) return "below_minimum";
  return null;
}

/** What a code takes off each line (free shipping takes nothing off the lines). */
function lineDiscounts(
  terms: DiscountTerms | undefined,
  lines: PricingLine[],
  subtotals: number[],
): number[] {
  if (!terms || terms.kind === "free_shipping") return lines.map(() => 0);
  const weights = lines.map((line, index) => (applies(terms, line) ? (subtotals[index] ?? 0) : 0));
  const eligible = weights.reduce((sum, weight) => sum + weight, 0);
  if (terms.kind === "percentage") {
    const percent = Math.min(10_000, Math.max(0, terms.percent ?? 0));
    return spread(divideHalfUp(eligible * percent, 10_000), weights);
  }
  const amount = Math.max(0, terms.amount ?? 0);
  if (terms.per === "unit") {
    return lines.map((line, index) =>
      weights[index] ? Math.min(amount * line.quantity, weights[index]) : 0,
    );
  }
  return spread(Math.min(amount, eligible), weights);
}

/** A shipping rate's charge for a subtotal (after the lines' discounts). */
export function shippingCharge(rate: ShippingRate, subtotal: number): number {
  switch (rate.kind) {
    case "flat":
      return rate.amount;
    case "free_above":
      return subtotal >= rate.threshold ? 0 : rate.amount;
    case "bands": {
      let charge = 0;
      let from = -1;
      for (const band of rate.bands) {
        if (band.from <= subtotal && band.from > from) {
          from = band.from;
          charge = band.amount;
        }
      }
      return charge;
    }
  }
}

/** The tax in (inclusive) or on (exclusive) an amount, rounded half up. */
export function taxOf(amount: number, tax: TaxTerms): number {
  if (tax.rate === 0 || amount === 0) return 0;
  return tax.mode === "exclusive"
    ? divideHalfUp(amount * tax.rate, 10_000)
    : amount - divideHalfUp(amount * 10_000, 10_000 + tax.rate);
}

/**
 * Prices a cart: its lines, the code's discount (checked first: a code that does not apply is refused,
 * never silently dropped), shipping and tax. A cart with nothing that ships pays no shipping.
 */
export function priceOrder(input: PricingInput): Priced | { mismatch: DiscountMismatch } {
  const { lines, discount } = input;
  const tax = input.tax ?? TAX_FREE;
  if (discount) {
    const mismatch = discountMismatch(discount, lines, input.now);
    if (mismatch) return { mismatch };
  }
  const subtotals = lines.map((line) => line.quantity * line.unitPrice);
  const discounts = lineDiscounts(discount, lines, subtotals);
  const priced: PricedLine[] = lines.map((line, index) => {
    const subtotal = subtotals[index] ?? 0;
    const off = discounts[index] ?? 0;
    const lineTax = taxOf(subtotal - off, tax);
    return {
      sku: line.sku,
      quantity: line.quantity,
      subtotal,
      discount: off,
      tax: lineTax,
      charged: subtotal - off + (tax.mode === "exclusive" ? lineTax : 0),
    };
  });
  const subtotal = priced.reduce((sum, line) => sum + line.subtotal, 0);
  const linesDiscount = priced.reduce((sum, line) => sum + line.discount, 0);
  const ships = lines.some((line) => line.ships);
  const charge = ships && input.shipping ? shippingCharge(input.shipping, subtotal - linesDiscount) : 0;
  const shippingOff = discount?.kind === "free_shipping" ? charge : 0;
  const shippingTax = tax.onShipping ? taxOf(charge - shippingOff, tax) : 0;
  const shipping = {
    charge,
    discount: shippingOff,
    tax: shippingTax,
    charged: charge - shippingOff + (tax.mode === "exclusive" ? shippingTax : 0),
  };
  const taxTotal = priced.reduce((sum, line) => sum + line.tax, 0) + shippingTax;
  const total = priced.reduce((sum, line) => sum + line.charged, 0) + shipping.charged;
  return {
    totals: { subtotal, discount: linesDiscount + shippingOff, shipping: charge, tax: taxTotal, total },
    lines: priced,
    shipping,
  };
}

/**
 * What refunding `units` more units of a line gives back, when `before` of its units were refunded
 * already: its share of what the line was charged (after its discount, with its tax), so refunding
 * the whole line, in any number of steps, gives back exactly what it was charged.
 */
export function lineRefund(
  line: Pick<PricedLine, "quantity" | "charged">,
  before: number,
  units: number,
): number {
  if (units <= 0 || line.quantity === 0) return 0;
  const after = Math.min(line.quantity, before + units);
  const from = Math.min(line.quantity, before);
  return shareDown(line.charged, after, line.quantity) - shareDown(line.charged, from, line.quantity);
}

/**
 * The discount and tax a refund of `amount` gives back, when `before` was refunded already: the share
 * of the order's discount and tax that its money carries, counted on what has been refunded in all
 * (rounded down), so refunds made one by one carry, together, exactly the order's discount and tax
 * once everything is refunded, and never more.
 */
export function refundShares(
  totals: Pick<Totals, "discount" | "tax" | "total">,
  before: number,
  amount: number,
): { discount: number; tax: number } {
  if (totals.total === 0 || amount <= 0) return { discount: 0, tax: 0 };
  const from = Math.min(totals.total, Math.max(0, before));
  const to = Math.min(totals.total, from + amount);
  const share = (part: number) => shareDown(part, to, totals.total) - shareDown(part, from, totals.total);
  return { discount: share(totals.discount), tax: share(totals.tax) };
}
