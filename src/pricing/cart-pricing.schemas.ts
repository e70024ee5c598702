import { z } from "zod";
import type { CartPricing } from "./pricing.quote";

const Minor = z.number().int().min(0).max(1_000_000_000_00);

/**
 * A cart's pricing (see CartPricing) as it crosses into an object that keeps it: an order shard
 * recording an order, a draw's entry book recording an entry. Each checks what it is given.
 */
export const CartPricingRecord = z.object({
  subtotal: Minor,
  discount: Minor,
  shipping: Minor,
  tax: Minor,
  taxMode: z.enum(["inclusive", "exclusive"]),
  lines: z
    .array(z.object({ sku: z.string().min(1).max(64), discount: Minor, tax: Minor, charged: Minor }))
    .max(50),
  shippingMethod: z.object({ id: z.string().min(1).max(63), name: z.string().max(100) }).optional(),
  discountCode: z.string().min(1).max(64).optional(),
  returnUseOnRefund: z.literal(true).optional(),
});

/**
 * What a cart so priced is charged: its lines less the discount, plus shipping, plus tax when it is
 * added on top (inclusive tax is inside the other amounts already). The same sum priceOrder makes.
 */
export function pricedTotal(
  pricing: Pick<CartPricing, "subtotal" | "discount" | "shipping" | "tax" | "taxMode">,
) {
  return (
    pricing.subtotal -
    pricing.discount +
    pricing.shipping +
    (pricing.taxMode === "exclusive" ? pricing.tax : 0)
  );
}
