import { logEvent } from "../shared/log";
import { allShards, orderShard } from "./shards";

/** What one shard's heal did (see shard/upkeep.ts), and the reconciler's sum of them. */

export type HealReport = {
  /** Orders handed to the payment queue again (their message was lost, or their retry came due). */
  resent: number;
  /** Pieces of owed work finished: stock committed or given back, refunds, verifications, expiries. */
  settled: number;
  /** Pieces of owed work that failed this time; each is retried on its own backoff. */
  failed: number;
  /** Orders that still owe something after this run. */
  stillOwed: number;
  /** Orders written to D1. */
  projected: number;
  /** Holds of abandoned checkout attempts given back. */
  released: number;
  expiredKeys: number;
};

export type ReconcileReport = HealReport & {
  /** Shards that could not be reached; whatever they owe waits for their own alarms. */
  shardsUnreachable: number;
};

/**
 * The backstop behind the shards' own alarms (cron, and `POST /v1/admin/reconcile`): asks every shard
 * to work through what it owes now, and adds up what they report. Each shard heals itself within
 * seconds anyway; this catches a shard whose alarm was lost, and tells an operator what is still owed.
 */
export async function reconcile(env: Env): Promise<ReconcileReport> {
  const reports = await Promise.allSettled(allShards(env).map((shard) => shard.heal(true)));
  const total: ReconcileReport = {
    resent: 0,
    settled: 0,
    failed: 0,
    stillOwed: 0,
    projected: 0,
    released: 0,
    expiredKeys: 0,
    shardsUnreachable: 0,
  };
  for (const report of reports) {
    if (report.status === "rejected") {
      total.shardsUnreachable++;
      logEvent("error", "order shard did not answer the reconciler", { error: String(report.reason) });
      continue;
    }
    for (const key of Object.keys(report.value) as (keyof HealReport)[]) total[key] += report.value[key];
  }
  return total;
}

/** What the shards still owe, for the ops page. */
export async function intakeCounts(env: Env) {
  const counts = await Promise.all(allShards(env).map((shard) => shard.stats()));
  const sum = (pick: (c: (typeof counts)[number]) => number) => counts.reduce((n, c) => n + pick(c), 0);
  return {
    owed: sum((c) => c.owed),
    overdue: sum((c) => c.overdue),
    notStarted: sum((c) => c.notStarted),
    unprojected: sum((c) => c.unprojected),
    claimsInFlight: sum((c) => c.claimsInFlight),
    releasesOwed: sum((c) => c.releasesOwed),
  };
}

/** Whether the order intake answers at all (for /health): one shard, no storage touched. */
export function pingOrderIntake(env: Env): Promise<true> {
  return orderShard(env, 0).ping();
}
