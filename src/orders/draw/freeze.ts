import { DRAW_SHARDS, drawBook } from "../../draws/draws";
import type { DrawWindow } from "../../draws/entries.store";
import { logEvent } from "../../shared/log";
import { withTimeout } from "../../shared/timeout";

/** Entries read from a book at a time. */
export const PAGE = 1_000;
/** A book that has not answered its freeze by then is counted not frozen (tried again by the caller). */
const FREEZE_TIMEOUT_MS = 10_000;

/**
 * Freezes a draw's books at once, all in parallel (for a cancel: at its close at the earliest, so a
 * book freezes before it), skipping `done`. A book that fails, or does not answer within 10 s, never
 * keeps the others open nor the caller waiting; answers the shards now frozen, the others being tried
 * again by the caller.
 */
export async function freezeBooks(
  env: Env,
  window: DrawWindow,
  now: number,
  done: ReadonlySet<number> = new Set(),
): Promise<Set<number>> {
  const shards = Array.from({ length: DRAW_SHARDS }, (_, shard) => shard).filter((shard) => !done.has(shard));
  const answers = await Promise.allSettled(
    shards.map((shard) =>
      withTimeout(
        Promise.resolve(drawBook(env, window.product, shard).freeze(window, Math.max(now, window.closesAt))),
        FREEZE_TIMEOUT_MS,
      ),
    ),
  );
  const frozen = new Set<number>();
  const failed: string[] = [];
  answers.forEach((answer, i) => {
    const shard = shards[i];
    if (shard === undefined) return;
    if (answer.status === "fulfilled" && answer.value.kind === "frozen") frozen.add(shard);
    else
      failed.push(`${shard}: ${answer.status === "fulfilled" ? answer.value.kind : String(answer.reason)}`);
  });
  if (failed.length > 0) {
    logEvent("warn", "some of a draw's entry books could not be frozen yet; they are tried again", {
      product: window.product,
      books: failed,
    });
  }
  return frozen;
}

/**
 * Tells every entry of the frozen books that it lost (the draw was cancelled), the books side by side,
 * adding each book told to `told`; true once every book has been told (a book that fails is told at a
 * later step).
 */
export async function tellCancelled(
  env: Env,
  window: DrawWindow,
  frozen: ReadonlySet<number>,
  told: Set<number>,
): Promise<boolean> {
  await Promise.all(
    [...frozen].map(async (shard) => {
      const book = drawBook(env, window.product, shard);
      try {
        for (let cursor = ""; ; ) {
          const page = await book.frozenEntries(cursor, PAGE);
          if (!page) return;
          await book.applyMany(
            page.entries.map(({ entryId }) => ({
              entryId,
              event: { type: "lost", reason: "draw_cancelled" },
            })),
          );
          if (page.entries.length < PAGE) break;
          cursor = page.entries.at(-1)?.entryId ?? cursor;
        }
        told.add(shard);
      } catch (error) {
        logEvent("warn", "a cancelled draw's book could not be told yet", {
          product: window.product,
          shard,
          error: String(error),
        });
      }
    }),
  );
  return told.size === DRAW_SHARDS;
}
