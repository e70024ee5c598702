import type { Money } from "../shared/money";

/**
 * The smallest charge a gateway takes, per currency, in the minor units the shop sends it (what
 * Stripe's API takes: JPY in yen; HUF in hundredths, as Stripe counts it): Stripe's documented minimum
 * charge amounts (docs.stripe.com/currencies, "Minimum and maximum charge amounts"). Stripe refuses a
 * PaymentIntent below them (`amount_too_small`), and the simulator refuses them the same way, so
 * checkout refuses such a cart before anything is held. A currency missing here has no minimum the
 * shop knows of (Stripe's rule there is the equivalent of 0.50 USD in the account's currency on the
 * day, which only Stripe can tell).
 */
const MINIMUMS: Readonly<Record<string, number>> = {
  USD: 50,
  AED: 200,
  AUD: 50,
  BGN: 100,
  BRL: 50,
  CAD: 50,
  CHF: 50,
  CZK: 1500,
  DKK: 250,
  EUR: 50,
  GBP: 30,
  HKD: 400,
  HUF: 17500,
  INR: 50,
  JPY: 50,
  MXN: 1000,
  MYR: 200,
  NOK: 300,
  NZD: 50,
  PLN: 200,
  RON: 200,
  SEK: 300,
  SGD: 50,
  THB: 1000,
};

/** The minimum `amount` falls short of, as Money, or null when a gateway can charge it. */
export function shortOfMinimum(amount: Money): Money | null {
  const minimum = MINIMUMS[amount.currency.toUpperCase()] ?? null;
  return minimum !== null && amount.amount < minimum ? { amount: minimum, currency: amount.currency } : null;
}
