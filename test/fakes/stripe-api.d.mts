/** A local fake of the Stripe HTTP API for the tests; see stripe-api.mjs. */
export function startFakeStripe(): Promise<{ url: string; close: () => Promise<void> }>;
