import { type PricedSku, priceSkus } from "../catalog/catalog.service";
import type { Scope } from "../http/scope";
import { type AllowanceLine, codeUseLine, type LimitLine } from "../inventory/allowances";
import { mergeLines } from "../inventory/inventory.holds";
import { AppError, type Problem } from "../shared/errors";
import { batchPrefixOf, isBatchCode } from "./code-batches";
import { CodeText, type DiscountDefinition, termsOf, whyNot } from "./discounts";
import { readDiscount } from "./discounts.storage";
import { type DiscountTerms, type PricingLine, priceOrder } from "./pricing";
import { methodsFor, type Place, type ShippingMethod, taxTermsFor } from "./pricing.settings";
import { readSettings } from "./pricing.storage";
import { placeOf } from "./regions";

/**
 * What checkout records of a cart's pricing beyond its lines' prices, in minor units of its currency:
 * the totals, each line's share of the discount and its tax, the shipping method and the code.
 */
export type CartPricing = {
  subtotal: number;
  discount: number;
  shipping: number;
  tax: number;
  taxMode: "inclusive" | "exclusive";
  /** Per line, in the cart's order: what the code took off, its tax, and what it was charged. */
  lines: { sku: string; discount: number; tax: number; charged: number }[];
  shippingMethod?: { id: string; name: string };
  discountCode?: string;
  /**
   * The code's rule as it was when checkout accepted the order (a later PATCH never changes it): a
   * full refund, or the shop's cancel, gives the order's use of the code back.
   */
  returnUseOnRefund?: true;
};

/** A cart line as the pricing maths takes it, from the catalog's pricing of its SKU. */
export function pricingLine(
  sku: Pick<PricedSku, "sku" | "productId" | "category" | "price" | "requiresShipping">,
  quantity: number,
): PricingLine {
  return {
    sku: sku.sku,
    productId: sku.productId,
    category: sku.category,
    quantity,
    unitPrice: sku.price.amount,
    ships: sku.requiresShipping,
  };
}

/**
 * A cart's lines priced from the catalog, merged by SKU as checkout merges them (so a discount spread
 * over them rounds the same): an unknown SKU or two currencies in one cart is the client's error
 * (400), as at checkout.
 */
export async function catalogCart(
  scope: Scope,
  items: { sku: string; quantity: number }[],
  at: "body" | "query",
): Promise<{ lines: PricingLine[]; titles: Map<string, string>; currency: string }> {
  const merged = mergeLines(items);
  const priced = await priceSkus(
    scope,
    merged.map((line) => line.sku),
  );
  const unknown = items.flatMap((item, index) =>
    priced.has(item.sku)
      ? []
      : [
          {
            path: at === "body" ? `items.${index}.sku` : "items",
            message: `Unknown SKU ${item.sku}`,
            in: at,
          },
        ],
  );
  if (unknown.length > 0) {
    throw new AppError("validation_failed", { detail: "Some SKUs are not in the catalog", errors: unknown });
  }
  const currencies = new Set([...priced.values()].map((sku) => sku.price.currency));
  if (currencies.size > 1) {
    throw new AppError("validation_failed", {
      detail: "All items of one cart are priced in one currency",
      errors: [{ path: "items", message: `Mixed currencies: ${[...currencies].join(", ")}`, in: at }],
    });
  }
  const skus = merged.flatMap(({ sku, quantity }) => {
    const found = priced.get(sku);
    return found ? [{ found, quantity }] : [];
  });
  return {
    lines: skus.map(({ found, quantity }) => pricingLine(found, quantity)),
    titles: new Map(skus.map(({ found }) => [found.sku, found.title])),
    currency: skus[0]?.found.price.currency ?? "USD",
  };
}

export type CartToPrice = {
  lines: PricingLine[];
  currency: string;
  /** Where it ships (the shipping address), if anywhere. */
  place: Place | null;
  method?: string | undefined;
  discountCode?: string | undefined;
  now: number;
  /**
   * For a quote shown while the buyer is still choosing (never for checkout): a cart that ships with
   * no address or no method yet is priced without shipping (`shippingPending`) instead of refused.
   */
  shippingLater?: boolean;
};

/**
 * A priced cart: its pricing and total, and what its code draws on, held with the cart's stock: one
 * use of the code's cap (`uses`), and the customer's allowance of it (`limits`, counted by email at
 * checkout and by card at payment).
 */
export type Quote = {
  pricing: CartPricing;
  total: number;
  uses: AllowanceLine[];
  limits: LimitLine[];
  /**
   * Only with `shippingLater`: the cart ships, but no address or method was chosen yet, so its
   * shipping (and the tax on it) is not in these totals.
   */
  shippingPending: boolean;
};

/**
 * Prices a cart with the shop's settings, as checkout accepts it: a cart that ships, once the shop has
 * shipping zones, needs an address in one of them and one of the methods offered there; tax is the
 * address's. A refusal says what to change; nothing is held or written either way.
 */
export async function quoteCart(scope: Scope, asked: CartToPrice): Promise<Quote | { refusal: Problem }> {
  // The address's region as pricing compares it (a code, whether the buyer typed it or spelled it out).
  const cart = { ...asked, place: asked.place && placeOf(asked.place) };
  const code =
    cart.discountCode === undefined ? null : await codeFor(scope, cart.discountCode, cart.currency);
  if (code && "refusal" in code) return code;
  const settings = await readSettings(scope);
  const ships = cart.lines.some((line) => line.ships);
  let method: ShippingMethod | null = null;
  let pending = false;
  if (ships && settings.zones.length > 0) {
    const offered = methodsFor(settings, cart.place ?? { country: "" }, cart.currency);
    // Still choosing: no place yet, or a place shipped to but no method picked.
    pending = Boolean(cart.shippingLater) && (!cart.place || (offered.length > 0 && !cart.method));
    const chosen = pending ? null : chooseMethod(offered, cart);
    if (chosen && "refusal" in chosen) return chosen;
    method = chosen?.method ?? null;
  }
  const priced = priceOrder({
    lines: cart.lines,
    discount: code?.terms,
    shipping: method?.rate,
    tax: taxTermsFor(settings, cart.place),
    now: cart.now,
  });
  if ("mismatch" in priced) return notApplicable(cart.discountCode ?? "", priced.mismatch);
  const { totals } = priced;
  // A code that takes nothing off this cart (free shipping where none is charged) uses no cap; one
  // that would make the order free is refused: no gateway charges nothing. Until shipping is chosen
  // neither is known: a free-shipping code may take it off, and it may make the total more than 0.
  if (code && totals.discount === 0 && !pending)
    return notApplicable(code.definition.code, "nothing_to_take");
  if (code && totals.total === 0 && !pending) return notApplicable(code.definition.code, "order_free");
  const definition = code?.definition;
  return {
    total: totals.total,
    shippingPending: pending,
    uses: definition?.maxUses ? [await usesLine(definition, definition.maxUses)] : [],
    limits: definition?.maxUsesPerCustomer
      ? [
          {
            key: `code:${definition.perCustomerKey ?? definition.code}`,
            quantity: 1,
            version: versionOf(definition),
            limit: {
              scope: "code",
              code: definition.perCustomerKey ?? definition.code,
              max: definition.maxUsesPerCustomer,
            },
          },
        ]
      : [],
    pricing: {
      subtotal: totals.subtotal,
      discount: totals.discount,
      shipping: totals.shipping,
      tax: totals.tax,
      taxMode: settings.taxMode,
      lines: priced.lines.map(({ sku, discount, tax, charged }) => ({ sku, discount, tax, charged })),
      ...(method ? { shippingMethod: { id: method.id, name: method.name } } : {}),
      ...(definition ? { discountCode: definition.code } : {}),
      ...(definition?.returnUseOnRefund ? { returnUseOnRefund: true as const } : {}),
    },
  };
}

/** A code's caps are as new as the code's last change: no object goes back to older ones. */
const versionOf = (definition: DiscountDefinition) => Date.parse(definition.updatedAt);

/**
 * The line drawing one use of a code's total cap. A cap split over buckets is versioned by when the
 * cap itself last changed (a bucket gives nothing to a checkout carrying a newer one than reached it,
 * see inventory/code-uses.ts), so a change of the code's dates or status moves none of it.
 */
function usesLine(definition: DiscountDefinition, maxUses: number) {
  const buckets = definition.buckets ?? 1;
  if (buckets === 1) return codeUseLine(definition.code, maxUses, versionOf(definition));
  const changed = definition.maxUsesChangedAt;
  return codeUseLine(definition.code, maxUses, Date.parse(changed ?? definition.createdAt), {
    buckets,
    fresh: changed === undefined,
  });
}

/** A code as the buyer typed it (any case), found and checked for the cart's currency. */
async function codeFor(
  scope: Scope,
  typed: string,
  currency: string,
): Promise<{ definition: DiscountDefinition; terms: DiscountTerms } | { refusal: Problem }> {
  const parsed = CodeText.safeParse(typed);
  if (!parsed.success) return notApplicable(typed, "unknown");
  const definition = await definitionOf(scope, parsed.data);
  if (!definition) return notApplicable(parsed.data, "unknown");
  const terms = termsOf(definition, currency);
  if ("mismatch" in terms) return notApplicable(definition.code, terms.mismatch);
  return { definition, terms: terms.terms };
}

/**
 * The definition a code stands for: its own, or, for a code of a batch of single-use codes, the
 * batch's terms with a cap of one use for this code (and the batch's cap per customer, counted over
 * the batch). A batch's prefix alone is no code.
 */
async function definitionOf(scope: Scope, code: string): Promise<DiscountDefinition | null> {
  const own = await readDiscount(scope, code);
  if (own) return own.batch ? null : own;
  const prefix = batchPrefixOf(code);
  const batch = prefix ? await readDiscount(scope, prefix) : null;
  if (!batch?.batch || !(await isBatchCode(code, batch.code, batch.batch.key, batch.batch.count)))
    return null;
  const { batch: _batch, ...terms } = batch;
  return { ...terms, code, maxUses: 1, ...(batch.maxUsesPerCustomer ? { perCustomerKey: batch.code } : {}) };
}

function notApplicable(code: string, reason: Parameters<typeof whyNot>[1]): { refusal: Problem } {
  return {
    refusal: {
      code: "discount_not_applicable",
      detail: `${whyNot(code.slice(0, 64), reason)}. Nothing was held.`,
      extensions: { discount: { code: code.slice(0, 64), reason } },
    },
  };
}

function chooseMethod(
  offered: ShippingMethod[],
  cart: CartToPrice,
): { method: ShippingMethod } | { refusal: Problem } {
  if (!cart.place) {
    return {
      refusal: {
        code: "validation_failed",
        detail: "This cart holds items that ship: send a shippingAddress and a shipping method",
        errors: [{ path: "shippingAddress", message: "Required to price shipping", in: "body" }],
      },
    };
  }
  if (offered.length === 0) {
    const where = cart.place.region ? `${cart.place.region}, ${cart.place.country}` : cart.place.country;
    return {
      refusal: {
        code: "shipping_unavailable",
        detail: `This shop does not ship to ${where} for ${cart.currency}`,
      },
    };
  }
  const ids = offered.map((method) => method.id).join(", ");
  const method = offered.find((candidate) => candidate.id === cart.method);
  if (method) return { method };
  return {
    refusal: {
      code: "validation_failed",
      detail: `Choose a shipping method offered for this address: ${ids}`,
      errors: [
        {
          path: "shipping.method",
          message: cart.method === undefined ? `Required: one of ${ids}` : `Not offered here: one of ${ids}`,
          in: "body",
        },
      ],
    },
  };
}

/** The methods offered for a cart at a place, each with what it would charge this cart. */
export async function shippingOptions(
  scope: Scope,
  cart: Omit<CartToPrice, "method" | "discountCode">,
): Promise<{ id: string; name: string; amount: number }[]> {
  const settings = await readSettings(scope);
  if (!cart.place || !cart.lines.some((line) => line.ships)) return [];
  const place = placeOf(cart.place);
  const tax = taxTermsFor(settings, place);
  return methodsFor(settings, place, cart.currency).map((method) => {
    const priced = priceOrder({ lines: cart.lines, shipping: method.rate, tax, now: cart.now });
    const amount = "mismatch" in priced ? 0 : priced.shipping.charged;
    return { id: method.id, name: method.name, amount };
  });
}
