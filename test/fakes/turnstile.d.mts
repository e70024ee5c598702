/** A local fake of Turnstile's siteverify endpoint for the tests; see turnstile.mjs. */
export const TURNSTILE_TEST_SECRET: string;
export function startFakeTurnstile(options?: {
  hostname?: string;
}): Promise<{ url: string; close: () => Promise<void> }>;
