import type { Product } from "../../catalog/catalog.schemas";
import { setDrawCancelled } from "../../catalog/catalog.service";
import { logEvent } from "../../shared/log";
import { withTimeout } from "../../shared/timeout";
import type { DrawRow, DrawStore } from "./draw.store";

/**
 * A cancel asked by a request is shown in the catalog by that request (at its own location's caches);
 * the alarm shows it only if that has not happened this long after.
 */
const SHOW_GRACE_MS = 5_000;
/**
 * A cancel shown in the catalog is shown again this long after that write landed: an admin write (a
 * product edit, a setup's publication) that read the product before it and published after it has
 * ended by then (a request has 30 s), and its stale copy is replaced.
 */
const REPUBLISH_AFTER_MS = 35_000;
/** A failed write of the cancel in the catalog is tried again 5 s later, then twice as late each time up to this. */
const SHOW_BACKOFF_MAX_MS = 5 * 60_000;
/** Failures in a row after which each is logged as an error, for an operator to look (about 2.5 min). */
const SHOW_FAILURES_LOGGED = 5;
/** A failed write is tried again this soon (then twice as late each time, see SHOW_BACKOFF_MAX_MS). */
const SHOW_AGAIN_MS = 5_000;
/** The catalog's write of a cancel is given this long before it is tried again. */
const SHOW_TIMEOUT_MS = 10_000;
/** The shop's address for the catalog's edge cache keys, when no admin request ever named one. */
const NO_ORIGIN = "https://draws.invalid";

type CancelledDraw = { draw: NonNullable<Product["draw"]>; cancelledAt: string };

/**
 * How a cancelled draw is shown in the catalog by its object: once the request that cancelled it had
 * its chance, retried with a backoff until D1 takes it, then once more after the writes racing it.
 */
export class CancelPublication {
  /** A request cancelled the draw and shows it in the catalog itself (see SHOW_GRACE_MS). */
  requestShows = false;
  readonly #env: Env;
  readonly #store: DrawStore;
  readonly #waitUntil: (promise: Promise<unknown>) => void;
  readonly #cancelled: () => CancelledDraw | null;

  constructor(
    env: Env,
    store: DrawStore,
    waitUntil: (promise: Promise<unknown>) => void,
    cancelled: () => CancelledDraw | null,
  ) {
    this.#env = env;
    this.#store = store;
    this.#waitUntil = waitUntil;
    this.#cancelled = cancelled;
  }

  /**
   * Shows the cancel in the catalog (D1, then its caches), unless it does already or the request that
   * cancelled it may still be doing so; then once more, REPUBLISH_AFTER_MS after that write landed.
   * Answers when to come back for it (null: done).
   */
  async show(draw: DrawRow, cancelledAt: number, product: string, now: number): Promise<number | null> {
    if (draw.cancelShownAgain) return null;
    if (!draw.cancelShown) {
      const grace = cancelledAt + SHOW_GRACE_MS;
      if (this.requestShows && now < grace) return grace;
    }
    if (draw.showRetryAt !== null && now < draw.showRetryAt) return draw.showRetryAt;
    if (!(await this.#write(product))) return this.#failed(draw, product, now);
    if (draw.cancelShown) {
      this.#store.cancelShownAgain();
      return null;
    }
    // A product edit, or a setup's publication, that read the product before this write and published
    // after it leaves the caches (Cache API, KV) showing the draw open: published again once every such
    // request must have ended.
    const again = Math.max(now, cancelledAt) + REPUBLISH_AFTER_MS;
    this.#store.cancelShown(again);
    return again;
  }

  /** The request that cancelled the draw showed it in the catalog at `now`: shown again later. */
  shownByRequest(now: number) {
    this.#store.cancelShown(now + REPUBLISH_AFTER_MS);
  }

  /**
   * Backs off after a failed write, the first or the second: D1 refusing it (down, or refusing the
   * row) must not cost a step every 5 s. Kept in storage: an object evicted while it waits keeps it.
   */
  #failed(draw: DrawRow, product: string, now: number): number {
    const failures = draw.showFailures + 1;
    const retryAt = now + Math.min(SHOW_AGAIN_MS * 2 ** (failures - 1), SHOW_BACKOFF_MAX_MS);
    this.#store.cancelShowFailed(failures, retryAt);
    if (failures >= SHOW_FAILURES_LOGGED) {
      logEvent("error", "a cancelled draw keeps failing to be shown in the catalog", {
        product,
        failures,
        nextTryAt: new Date(retryAt).toISOString(),
      });
    }
    return retryAt;
  }

  /** Writes the cancelled draw in the catalog (D1, then its caches); false when it did not land. */
  async #write(product: string): Promise<boolean> {
    const cancelled = this.#cancelled();
    if (!cancelled) return true;
    const scope = {
      env: this.#env,
      origin: this.#store.draw()?.origin ?? NO_ORIGIN,
      waitUntil: this.#waitUntil,
    };
    try {
      // A D1 that hangs must not hold the step back: the write is tried again later. A product gone
      // (archived) has nothing to show.
      await withTimeout(
        setDrawCancelled(scope, product, cancelled.draw, cancelled.cancelledAt),
        SHOW_TIMEOUT_MS,
        "the catalog's write did not answer in time",
      );
      return true;
    } catch (error) {
      logEvent("warn", "a cancelled draw could not be shown in the catalog yet; it is tried again", {
        product,
        error: String(error),
      });
      return false;
    }
  }
}
