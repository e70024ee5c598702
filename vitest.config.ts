import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
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
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      // Every test goes through workerd and real bindings; CI shares two cores with other work.
      testTimeout: 30_000,
      // The worker writes one JSON line per request; keep test output to what failed.
      onConsoleLog: (log: string) => !log.includes('"msg":"request"'),
    },
  };
});
