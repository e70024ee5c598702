import { codeUsesName } from "./allowances";
import { evenShare } from "./inventory.args";
import type { ShareResult } from "./inventory.do";
import { everyBucket } from "./inventory.holds";
import { bucketName, bucketObject } from "./inventory.service";

/**
 * A hot discount code's total cap, split over buckets as a hot SKU's stock is, so no one object is
 * what every checkout of a sale waits on. Each bucket is an allowance object whose stock is its share
 * of the cap less the uses paid there; a checkout walks the buckets from one picked by its order id,
 * an empty one sending it on to the next, and is refused only when every bucket is out. A use is
 * given back (released, expired) to the bucket that held it, since the order's hold names it.
 *
 * The shares sum to the cap exactly. A code that never changed its cap is split evenly, each bucket
 * stocked by the first checkout that reaches it. A change of the cap (`pushCodeCap`) cannot simply
 * split the new cap evenly: lowering it, a bucket that used more than its new share, with the others
 * filling theirs, would pass it. So a change goes in two rounds, every bucket told its version:
 *
 * 1. Freeze: each bucket's share falls to nothing (what is held and used there stays counted), and it
 *    answers how many those are. Shares only fall in this round, so the sum stays within the old cap.
 * 2. Open: what the new cap leaves over the sum of those is split evenly and added to each bucket's
 *    share, so the shares sum to the new cap (for a cap lowered below what is held and used, see
 *    shareAfter). A bucket keeps on hand its share less the uses paid there, so a use given back is
 *    given again only within its share.
 *
 * A bucket follows no change older than one it has seen, and a checkout carrying a newer cap than
 * its bucket has seen gets nothing there (its share may still be the old, larger one), nor does any
 * checkout at a frozen bucket: the bucket answers `not_ready`, which is no refusal (the checkout is
 * answered 503 to retry, never "used up", and nothing is remembered). So a change
 * left half-done (a bucket unreachable, the worker stopped between rounds) gives fewer uses than
 * the new cap, never more than the old or new one allows, until it is made again (a repeated PATCH,
 * or the scheduled job: pricing/discounts.storage.ts completeCapChanges); a newer change
 * overtakes an older one wherever it reaches first (docs/pricing.md walks through both).
 */

/** The uses counted by a code's buckets: held by unpaid orders, and used by paid ones. */
export async function readCodeUses(env: Env, code: string, buckets: number) {
  const name = await codeUsesName(code);
  const counts = await Promise.all(
    everyBucket(buckets).map((bucket) => bucketObject(env, name, bucket).counts()),
  );
  const present = counts.flatMap((c) => (c ? [c] : []));
  return {
    held: present.reduce((sum, c) => sum + c.reserved, 0),
    used: present.reduce((sum, c) => sum + c.committed, 0),
  };
}

/**
 * Tells a code's buckets its new total cap, in the two rounds above, under `version` (when the cap
 * was changed). Throws if a bucket could not be reached: the change is then half-done (see above)
 * until it is made again, always under a newer version (two runs of one version may interleave).
 */
export async function pushCodeCap(
  env: Env,
  code: string,
  cap: number,
  buckets: number,
  version: number,
): Promise<"done" | "superseded"> {
  const name = await codeUsesName(code);
  const round = async (shares: (bucket: number) => number, opening: boolean) => {
    const answers = await Promise.allSettled(
      everyBucket(buckets).map((bucket) =>
        bucketObject(env, name, bucket).setShare(bucketName(name, bucket), shares(bucket), version, opening),
      ),
    );
    const failed = answers.find((answer) => answer.status === "rejected");
    if (failed) throw failed.reason;
    return answers.map((answer) => (answer as PromiseFulfilledResult<ShareResult>).value);
  };
  const floors = await round(() => 0, false);
  if (floors.some((answer) => !answer.ok && answer.error === "superseded")) return "superseded";
  const taken = floors.map((answer) => (answer.ok ? answer.taken : Number.NaN));
  if (taken.some(Number.isNaN)) throw new Error("a bucket of the code refused its share");
  const left = cap - taken.reduce((sum, share) => sum + share, 0);
  const opened = await round((bucket) => shareAfter(taken[bucket] ?? 0, left, bucket, buckets), true);
  if (opened.some((answer) => !answer.ok && answer.error === "superseded")) return "superseded";
  if (opened.some((answer) => !answer.ok)) throw new Error("a bucket of the code refused its share");
  return "done";
}

/**
 * A bucket's share after a change, from what it held and used when frozen (`taken`) and what the new
 * cap leaves over every bucket's (`left`). With room left, each share is what it has plus its part
 * of the room: they sum to the cap. With none (the cap lowered below what is held and used), a bucket
 * may give a use only once what it has fell below its share, and each share is small enough that this
 * happens only when the code's total is under the cap, whatever the other buckets hold:
 * `taken + left` (the cap less every other bucket's taken), never below nothing. Those sum to less
 * than the cap: conservative until the cap changes again (a change made again redistributes).
 */
function shareAfter(taken: number, left: number, bucket: number, of: number): number {
  return left >= 0 ? taken + evenShare(left, bucket, of) : Math.max(0, taken + left);
}
