import { drandRandomnessMatches } from "../../draws/proof";
import { logEvent } from "../../shared/log";

const DRAND = "https://api.drand.sh";

/** The beacon round's randomness from drand's relay, once the round is out (null before, or on failure). */
export async function fetchBeacon(
  env: Env,
  beacon: { chain: string; round: number },
): Promise<string | null> {
  try {
    const base = env.DRAND_URL || DRAND;
    const response = await fetch(`${base}/${beacon.chain}/public/${beacon.round}`, {
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) return null;
    const round = await response.json<{ round: number; randomness: string; signature: string }>();
    if (round.round !== beacon.round || !(await drandRandomnessMatches(round.signature, round.randomness))) {
      logEvent("error", "the draw's beacon round does not check out", { round: beacon.round });
      return null;
    }
    return round.randomness;
  } catch (error) {
    logEvent("warn", "the draw's beacon round could not be fetched yet", { error: String(error) });
    return null;
  }
}
