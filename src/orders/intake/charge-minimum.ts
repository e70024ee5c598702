import { shortOfMinimum } from "../../payments/minimums";
import { whyNot } from "../../pricing/discounts";
import type { Quote } from "../../pricing/pricing.quote";
import type { Problem } from "../../shared/errors";

/**
 * A cart whose total no gateway would charge (below the currency's minimum charge, see
 * payments/minimums.ts) is refused at checkout, before anything is held, rather than failing at its
 * payment. A code that brings the cart below it is the code's refusal (`discount_not_applicable`,
 * reason `below_charge_minimum`: the cart without it can be bought); a cart that small anyway is
 * `amount_below_minimum`. Either carries the minimum as `minimum` (Money).
 */
export function chargeMinimumRefusal(
  quote: Quote,
  currency: string,
  withoutCode: () => Promise<number | null>,
): Promise<Problem | null> | null {
  const minimum = shortOfMinimum({ amount: quote.total, currency });
  if (!minimum) return null;
  const code = quote.pricing.discountCode;
  if (!code) return Promise.resolve(tooSmall(quote, currency, minimum));
  // The cart priced again without the code says whose refusal it is: with tax added on top (or
  // shipping priced by subtotal bands) the code took off more than its own amount.
  return withoutCode().then((total) =>
    total !== null && total >= minimum.amount
      ? codeRefusal(code, currency, minimum)
      : tooSmall(quote, currency, minimum),
  );
}

type Minimum = NonNullable<ReturnType<typeof shortOfMinimum>>;

function codeRefusal(code: string, currency: string, minimum: Minimum): Problem {
  return {
    code: "discount_not_applicable",
    detail: `${whyNot(code, "below_charge_minimum")} (${minimum.amount} ${currency} in minor units). Nothing was held.`,
    extensions: { discount: { code, reason: "below_charge_minimum" }, minimum },
  };
}

function tooSmall(quote: Quote, currency: string, minimum: Minimum): Problem {
  return {
    code: "amount_below_minimum",
    detail: `This order's total, ${quote.total} ${currency} in minor units, is below the smallest amount a card payment can be for (${minimum.amount}). Nothing was held.`,
    extensions: { minimum },
  };
}
