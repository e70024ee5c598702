/** How long the payment consumer may hold an attempt before its outcome is taken as unknown. */
export const ATTEMPT_LEASE_MS = 60_000;
/** An order handed to the queue and not picked up by then is handed over again (then with backoff). */
export const RESEND_AFTER_MS = 10_000;
/** A processing payment is asked about this often; the gateway's event usually comes first. */
export const PROCESSING_RECHECK_MS = 30_000;
/** A buyer's "I am done" brings the payment to be asked about at most this often. */
export const RECHECK_SPACING_MS = 2000;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 5 * 60_000;

/**
 * What the machine needs besides the order and the event: the time, the shop's payment settings, and
 * a source of randomness for jitter (seeded in simulations, so a run replays exactly).
 */
export type DecideContext = {
  now: number;
  random: () => number;
  settings: LifecycleSettings;
};

export type LifecycleSettings = {
  /** Attempts to charge before the gateway is only asked (and the payment withdrawn). */
  maxAttempts: number;
  /** Backoff between payment attempts whose outcome was unknown: base, doubling, up to cap. */
  retryBaseMs: number;
  retryCapMs: number;
  /** How long a buyer has to complete a payment that waits for them (3-D Secure). */
  actionMs: number;
};

/** Exponential backoff with jitter: half the step fixed, half random. */
export function backoffMs(
  attempts: number,
  random: () => number,
  baseMs = BACKOFF_BASE_MS,
  capMs = BACKOFF_CAP_MS,
): number {
  const step = Math.min(capMs, baseMs * 2 ** Math.max(0, attempts));
  return Math.round(step / 2 + random() * (step / 2));
}

/** When to try a payment again after the attempt-th one ended without a known outcome. */
export function paymentRetryMs(ctx: DecideContext, attempt: number): number {
  const { retryBaseMs, retryCapMs } = ctx.settings;
  return backoffMs(attempt - 1, ctx.random, retryBaseMs, retryCapMs);
}
