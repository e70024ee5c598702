// Small statistics for the load tests' audits: percentiles and Pearson's chi-square test of
// independence with its p-value (the upper tail of the chi-square distribution).

export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** ln Γ(x), Lanczos' approximation (g = 7, 9 terms): plenty for p-values. */
function lnGamma(x) {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let sum = c[0];
  for (let i = 1; i < 9; i++) sum += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Q(a, x) = Γ(a, x) / Γ(a): a series below a + 1, a continued fraction above (Numerical Recipes). */
function upperRegularizedGamma(a, x) {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-15; n++) {
      term *= x / (a + n);
      sum += term;
    }
    return 1 - sum * front;
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return front * h;
}

/**
 * Whether an outcome's share differs between groups: `groups` is [{ n, hits }]. Answers the
 * chi-square statistic of the 2 × k table, its degrees of freedom and the p-value (the chance of a
 * statistic at least this large if the share were the same in every group).
 */
export function chiSquareIndependence(groups) {
  const n = groups.reduce((sum, g) => sum + g.n, 0);
  const hits = groups.reduce((sum, g) => sum + g.hits, 0);
  const share = n > 0 ? hits / n : 0;
  let statistic = 0;
  for (const g of groups) {
    const expectedHits = g.n * share;
    const expectedMisses = g.n * (1 - share);
    if (expectedHits > 0) statistic += (g.hits - expectedHits) ** 2 / expectedHits;
    if (expectedMisses > 0) statistic += (g.n - g.hits - expectedMisses) ** 2 / expectedMisses;
  }
  const dof = groups.length - 1;
  return { statistic, dof, pValue: dof > 0 ? upperRegularizedGamma(dof / 2, statistic / 2) : 1 };
}
