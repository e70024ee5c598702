import type { PricedSku } from "../../catalog/catalog.service";
import type { LimitLine } from "../../inventory/allowances";
import type { CartLine, OverAllowance } from "../../inventory/inventory.holds";
import type { Problem } from "../../shared/errors";
import { perProduct } from "./drop-rules";

/** The limits per customer a cart is under: one per limited SKU, one per limited product. */
export function customerLimits(priced: { line: CartLine; priced: PricedSku }[]): LimitLine[] {
  const limits: LimitLine[] = [];
  for (const { line, priced: sku } of priced) {
    if (sku.maxPerCustomer !== null) {
      limits.push({
        key: `sku:${line.sku}`,
        quantity: line.quantity,
        limit: { scope: "sku", sku: line.sku, max: sku.maxPerCustomer },
      });
    }
  }
  for (const [productId, { quantity, max }] of perProduct(priced, (sku) => sku.productMaxPerCustomer)) {
    limits.push({ key: `product:${productId}`, quantity, limit: { scope: "product", productId, max } });
  }
  return limits;
}

/**
 * The refusal of a cart that would take a customer past a limit: the limit, what the cart asked
 * for, and what the customer may still take (their allowance less what they hold or bought).
 */
export function limitRefusal(overAllowance: OverAllowance[]): Problem | null {
  const [over] = overAllowance;
  if (!over) return null;
  const { line } = over;
  if (line.allowance.limit.scope === "pass") {
    return {
      code: "admission_pass_used",
      detail: "This admission pass is already used by another order (it comes back if that order fails)",
    };
  }
  const { max, ...what } = line.allowance.limit;
  if (what.scope === "uses" || what.scope === "code") {
    return {
      code: "discount_exhausted",
      detail:
        what.scope === "uses"
          ? `The code ${what.code} is used up (${max} uses; uses held by unpaid orders come back if they fail). Nothing was held.`
          : `The code ${what.code} can be used ${max} time${max === 1 ? "" : "s"} per customer, and this email has used it up (uses held by its unpaid orders come back if they fail). Nothing was held.`,
      extensions: {
        discount: { code: what.code, limit: what.scope === "uses" ? "total" : "per_customer", max },
        remaining: over.available,
      },
    };
  }
  const name = what.scope === "sku" ? `SKU ${what.sku}` : `product ${what.productId}`;
  return {
    code: "purchase_limit_exceeded",
    detail: `At most ${max} of ${name} per customer; ${over.available} more can be bought with this email now (units held by its unpaid orders come back if they fail). Nothing was held.`,
    extensions: {
      limit: { ...what, per: "customer", max },
      requested: line.quantity,
      remaining: over.available,
    },
  };
}
