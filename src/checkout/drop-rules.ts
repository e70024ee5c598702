import type { PricedSku } from "../catalog/catalog.service";
import type { Problem } from "../errors";
import type { CartLine } from "../inventory/inventory.holds";

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
  const byProduct = new Map<string, { limit: number; requested: number }>();
  for (const { line, priced: sku } of priced) {
    if (sku.productMaxPerOrder === null) continue;
    const entry = byProduct.get(sku.productId) ?? { limit: sku.productMaxPerOrder, requested: 0 };
    entry.requested += line.quantity;
    byProduct.set(sku.productId, entry);
  }
  for (const [productId, { limit, requested }] of byProduct) {
    if (requested > limit) return limitExceeded({ scope: "product", productId }, limit, requested);
  }
  return null;
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
