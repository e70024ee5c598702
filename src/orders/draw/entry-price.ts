import type { Product } from "../../catalog/catalog.schemas";
import type { Scope } from "../../http/scope";
import { type CartPricing, pricingLine, quoteCart } from "../../pricing/pricing.quote";
import { AppError } from "../../shared/errors";
import { chargeMinimumRefusal } from "../intake/charge-minimum";
import type { EntryRequest } from "./entries.service";

/** What an entry authorizes, and captures should it win: its total, and how it came to it. */
export type EntryPrice = { amount: number; currency: string; pricing: CartPricing };

/**
 * Prices an entry as a checkout of one unit of its size to its address: the same quoteCart with the
 * shop's settings (the shipping method chosen for the address, its tax), and no discount code (a
 * draw takes none). A refusal is checkout's (the same code and status). Pure reading (the catalog's
 * product and the settings, which answer 503 when they cannot be read), so it leaves nothing behind.
 */
export async function priceEntry(
  scope: Scope,
  product: Product,
  variant: Product["variants"][number],
  request: EntryRequest,
): Promise<EntryPrice> {
  const currency = variant.price.currency;
  const address = request.shippingAddress;
  const quote = await quoteCart(scope, {
    lines: [
      pricingLine(
        {
          sku: variant.sku,
          productId: product.id,
          category: product.category,
          price: variant.price,
          requiresShipping: product.requiresShipping !== false,
        },
        1,
      ),
    ],
    currency,
    // The route checked the address (Address: a country is always there).
    place: address ? { country: address.country ?? "", region: address.region } : null,
    method: request.shipping?.method,
    now: Date.now(),
  });
  if ("refusal" in quote) throw new AppError(quote.refusal.code, quote.refusal);
  const tooSmall = await chargeMinimumRefusal(quote, currency, async () => null);
  if (tooSmall) throw new AppError(tooSmall.code, tooSmall);
  return { amount: quote.total, currency, pricing: quote.pricing };
}
