import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { startFakeStripe } from "./test/fakes/stripe-api.mjs";
import { startFakeTurnstile } from "./test/fakes/turnstile.mjs";

/**
 * Two projects over the same worker: the shop as it runs locally (the payment simulator), and the
 * shop with Stripe as its gateway, the official SDK pointed at a local fake of Stripe's HTTP API
 * (test/fakes/stripe-api.mjs) that this process serves for the run, as it serves a fake of
 * Turnstile's siteverify (test/fakes/turnstile.mjs).
 */
export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  const stripe = await startFakeStripe();
  const turnstile = await startFakeTurnstile();
  const worker = (bindings: Record<string, string>) =>
    cloudflareTest({
      main: "./src/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: migrations,
          // More sequences for the property tests when asked (PROPERTY_RUNS=500 npm test).
          PROPERTY_RUNS: process.env.PROPERTY_RUNS ?? "",
          ADMIN_TOKEN: "test-admin-token",
          // Payment retries in tests go round at once, so every path settles within seconds.
          PAYMENT_RETRY_BASE_SECONDS: "0",
          PAYMENT_RETRY_MAX_DELAY_SECONDS: "0",
          // A draw's seed is revealed a second after its list is sealed, not half a minute.
          DRAW_REVEAL_SECONDS: "1",
          // Turnstile stays off unless a test sets TURNSTILE_SECRET; then it asks the local fake.
          TURNSTILE_VERIFY_URL: turnstile.url,
          // Emails go through the send_email binding, as deployed (npm start only keeps them).
          EMAIL_DELIVERY: "send",
          ...bindings,
        },
      },
    });
  const shared = {
    setupFiles: ["./test/setup.ts"],
    // Every test goes through workerd and real bindings; CI shares two cores with other work.
    testTimeout: 30_000,
  };
  return {
    test: {
      projects: [
        {
          plugins: [worker({})],
          test: {
            ...shared,
            name: "shop",
            include: ["test/**/*.test.ts"],
            exclude: ["test/stripe/**", "test/model/**", "test/pricing/**"],
          },
        },
        {
          plugins: [
            worker({
              PAYMENT_PROVIDER: "stripe",
              STRIPE_SECRET_KEY: "sk_test_fake",
              STRIPE_API_BASE: stripe.url,
              STRIPE_WEBHOOK_SECRET: "whsec_test_fake",
              STRIPE_PUBLISHABLE_KEY: "pk_test_fake",
              // The gateway's rate is tested on its own; here every charge goes out at once.
              PAYMENT_GATEWAY_RPS: "0",
            }),
          ],
          test: { ...shared, name: "stripe", include: ["test/stripe/**/*.test.ts"] },
        },
        {
          // The shop's pricing settings apply to every checkout, so the tests that change them run
          // against a worker (and storage) of their own, one file, in order.
          plugins: [worker({})],
          test: { ...shared, name: "pricing", include: ["test/pricing/**/*.test.ts"] },
        },
        {
          // The lifecycle machine and the order loop without workerd: pure logic and the seeded
          // simulation (LIFECYCLE_RUNS, LIFECYCLE_SEED), in Node.
          test: {
            name: "model",
            environment: "node",
            include: ["test/model/**/*.test.ts"],
            testTimeout: 600_000,
          },
        },
      ],
      // The worker writes one JSON line per request; keep test output to what failed.
      onConsoleLog: (log: string) => !log.includes('"msg":"request"'),
    },
  };
});
