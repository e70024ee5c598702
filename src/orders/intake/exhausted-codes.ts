import { background, type Scope } from "../../http/scope";
import type { AllowanceLine } from "../../inventory/allowances";
import { settings } from "../../shared/config";
import { EdgeMemo } from "../../shared/edge-memo";
import type { Problem } from "../../shared/errors";
import type { StoredResponse } from "../protocol";

/**
 * A code whose total cap is used up, remembered at this location for the sold-out TTL
 * (SOLD_OUT_TTL_SECONDS, 5 s by default), as a sold-out SKU is: once a hot code runs out, every late
 * checkout would otherwise walk all its buckets (a refusal written in each, then released). The memo
 * is only a refusal given early: checkout asks the key's shard first, exactly as for any refusal at
 * the edge, so a retry of a placed order still gets its answer; and it holds for the cap's version
 * only (a changed cap is a new version, which the memo does not answer). A use given back (a failed
 * order, a lapsed hold, a refund) is offered again here once the memo lapses, within that TTL.
 */
const NAMESPACE = "code-exhausted";

const memo = (scope: Scope) => new EdgeMemo(NAMESPACE, scope.origin);

/** The cart's line drawing a use of a code's total cap, if any. */
function totalCapLine(uses: AllowanceLine[]) {
  for (const line of uses) {
    const { limit, version } = line.allowance;
    if (limit.scope === "uses") return { code: limit.code, max: limit.max, version: String(version ?? 0) };
  }
  return null;
}

/** The refusal of a code this location knows is used up at the cap's version; otherwise null. */
export async function knownExhausted(scope: Scope, uses: AllowanceLine[]): Promise<Problem | null> {
  const line = totalCapLine(uses);
  if (!line) return null;
  const remembered = await memo(scope)
    .get(line.code)
    .catch(() => null);
  if (remembered !== line.version) return null;
  return {
    code: "discount_exhausted",
    detail: `The code ${line.code} is used up (${line.max} uses; uses held by unpaid orders come back if they fail). Nothing was held.`,
    extensions: { discount: { code: line.code, limit: "total", max: line.max }, remaining: 0 },
  };
}

/** Remembers the code of a cart its total cap refused (the shard's answer says so), at its version. */
export function rememberExhausted(scope: Scope, uses: AllowanceLine[], response: StoredResponse) {
  const line = totalCapLine(uses);
  if (!line || response.status !== 409) return;
  let problem: { code?: string; discount?: { code?: string; limit?: string } };
  try {
    problem = JSON.parse(response.body);
  } catch {
    return;
  }
  if (problem.code !== "discount_exhausted" || problem.discount?.limit !== "total") return;
  if (problem.discount.code !== line.code) return;
  const { soldOutTtlSeconds } = settings(scope.env);
  background(scope, "exhausted code flag", memo(scope).put(line.code, line.version, soldOutTtlSeconds));
}
