import type { PricedSku } from "../../catalog/catalog.service";
import type { CartLine } from "../../inventory/inventory.holds";
import type { Problem } from "../../shared/errors";

/**
 * A limited release's rules, decided at the edge from the catalog (no object is asked, so a refusal
 * costs a drop nothing): nothing sells before its start time, and no order takes more than a SKU's,
 * or a product's, `maxPerOrder`. A refusal holds nothing and is not stored under the key, so the same
 * request succeeds once the sale has started.
 */
export function dropRefusal(priced: { line: CartLine; priced: PricedSku }[], now: number): Problem | null {
  const early = priced.filter(({ priced: sku }) => sku.saleStartsAt && Date.parse(sku.saleStartsAt) > now);
  if (early.length > 0) {
    const startsAt = early.map(({ priced: sku }) => sku.saleStartsAt as string).sort()[0] as string;
    return {
      code: "sale_not_started",
      detail: `The sale of ${early.map(({ line }) => line.sku).join(", ")} starts at ${startsAt}`,
      headers: { "Retry-After": String(Math.max(1, Math.ceil((Date.parse(startsAt) - now) / 1000))) },
      extensions: {
        saleStartsAt: startsAt,
        skus: early.map(({ line, priced: sku }) => ({ sku: line.sku, saleStartsAt: sku.saleStartsAt })),
      },
    };
  }
  for (const { line, priced: sku } of priced) {
    if (sku.maxPerOrder !== null && line.quantity > sku.maxPerOrder) {
      return limitExceeded({ scope: "sku", sku: line.sku }, sku.maxPerOrder, line.quantity);
    }
  }
  for (const [productId, { quantity, max }] of perProduct(priced, (sku) => sku.productMaxPerOrder)) {
    if (quantity > max) return limitExceeded({ scope: "product", productId }, max, quantity);
  }
  return null;
}

/**
 * The cart's units of each product that has a limit (`limitOf` picks which), summed over its SKUs,
 * with that limit.
 */
export function perProduct(
  priced: { line: CartLine; priced: PricedSku }[],
  limitOf: (sku: PricedSku) => number | null,
): Map<string, { quantity: number; max: number }> {
  const byProduct = new Map<string, { quantity: number; max: number }>();
  for (const { line, priced: sku } of priced) {
    const max = limitOf(sku);
    if (max === null) continue;
    const entry = byProduct.get(sku.productId) ?? { quantity: 0, max };
    entry.quantity += line.quantity;
    byProduct.set(sku.productId, entry);
  }
  return byProduct;
}

function limitExceeded(
  what: { scope: "sku"; sku: string } | { scope: "product"; productId: string },
  limit: number,
  requested: number,
): Problem {
  const name = what.scope === "sku" ? `SKU ${what.sku}` : `product ${what.productId}`;
  return {
    code: "purchase_limit_exceeded",
    detail: `At most ${limit} of ${name} per order; this order asks for ${requested}. Nothing was held.`,
    extensions: { limit: { ...what, per: "order", max: limit }, requested },
  };
}
