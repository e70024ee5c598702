// Money as the API sends it: an integer count of the currency's minor units. The exponent is the
// server's (src/orders/notify/emails.ts's ZERO_DECIMAL, as the payment provider counts them), not
// the browser's locale data, so a page and the buyer's email always show the same amount.
const ZERO_DECIMAL = new Set(["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"]);

export const formatMoney = ({ amount, currency }) => {
  const digits = ZERO_DECIMAL.has(currency) ? 0 : 2;
  return new Intl.NumberFormat(undefined, {
    style: "currency",
    currency,
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(amount / 10 ** digits);
};
