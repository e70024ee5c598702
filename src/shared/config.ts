import { z } from "zod";

/** The tunable settings of wrangler.toml `[vars]`, parsed once per environment object. */
const Settings = z.object({
  catalogEdgeTtlSeconds: z.coerce.number().int().min(0).max(86_400).default(30),
  catalogKvFreshSeconds: z.coerce.number().int().min(0).max(86_400).default(300),
  catalogMemoryTtlMs: z.coerce.number().int().min(0).max(10_000).default(100),
  accessLogSampleRate: z.coerce.number().min(0).max(1).default(0.01),
  lowStockThreshold: z.coerce.number().int().min(0).default(10),
  holdTtlSeconds: z.coerce.number().int().min(10).max(86_400).default(900),
  soldOutTtlSeconds: z.coerce.number().int().min(1).max(300).default(5),
  paymentRetryBaseSeconds: z.coerce.number().int().min(0).max(3600).default(2),
  paymentRetryMaxDelaySeconds: z.coerce.number().int().min(0).max(43_200).default(300),
  paymentMaxAttempts: z.coerce.number().int().min(1).max(100).default(8),
  paymentActionSeconds: z.coerce.number().int().min(30).max(3600).default(600),
  orderShards: z.coerce.number().int().min(1).max(1024).default(16),
  drawRevealSeconds: z.coerce.number().int().min(0).max(86_400).default(30),
  requireShippingAddress: z
    .string()
    .default("false")
    .transform((value) => ["true", "1", "yes"].includes(value.trim().toLowerCase())),
  // Empty: the gateway's own default (see gatewayRps); 0: no limit.
  paymentGatewayRps: z
    .string()
    .default("")
    .transform((value) => (value.trim() === "" ? null : Number(value)))
    .pipe(z.number().min(0).max(10_000).nullable().catch(null)),
  // Read leniently: a typo here must not take the shop down; paymentMode() names what it cannot use.
  paymentProvider: z
    .string()
    .default("simulated")
    .transform((value) => value.trim().toLowerCase() || "simulated"),
  allowSimulatedPayments: z
    .string()
    .default("false")
    .transform((value) => ["true", "1", "yes"].includes(value.trim().toLowerCase())),
});

export type Settings = z.infer<typeof Settings>;

const parsed = new WeakMap<Env, Settings>();

export function settings(env: Env): Settings {
  let value = parsed.get(env);
  if (!value) {
    value = Settings.parse({
      catalogEdgeTtlSeconds: env.CATALOG_EDGE_TTL_SECONDS,
      catalogKvFreshSeconds: env.CATALOG_KV_FRESH_SECONDS,
      catalogMemoryTtlMs: env.CATALOG_MEMORY_TTL_MS,
      accessLogSampleRate: env.ACCESS_LOG_SAMPLE_RATE,
      lowStockThreshold: env.LOW_STOCK_THRESHOLD,
      holdTtlSeconds: env.HOLD_TTL_SECONDS,
      soldOutTtlSeconds: env.SOLD_OUT_TTL_SECONDS,
      paymentRetryBaseSeconds: env.PAYMENT_RETRY_BASE_SECONDS,
      paymentRetryMaxDelaySeconds: env.PAYMENT_RETRY_MAX_DELAY_SECONDS,
      paymentMaxAttempts: env.PAYMENT_MAX_ATTEMPTS,
      paymentActionSeconds: env.PAYMENT_ACTION_SECONDS,
      orderShards: env.ORDER_SHARDS,
      drawRevealSeconds: env.DRAW_REVEAL_SECONDS,
      requireShippingAddress: env.REQUIRE_SHIPPING_ADDRESS,
      paymentGatewayRps: env.PAYMENT_GATEWAY_RPS,
      paymentProvider: env.PAYMENT_PROVIDER,
      allowSimulatedPayments: env.ALLOW_SIMULATED_PAYMENTS,
    });
    parsed.set(env, value);
  }
  return value;
}

/**
 * How this deployment takes payments. The simulator "pays" without money, so it runs only where it
 * is allowed (`ALLOW_SIMULATED_PAYMENTS = "true"`: `.dev.vars` locally, a demo deployment on
 * purpose); anywhere else checkout refuses and /health says why, rather than selling for nothing.
 */
export type PaymentMode = {
  provider: "simulated" | "stripe";
  live: boolean;
  ready: boolean;
  problem?: string;
};

export function paymentMode(env: Env): PaymentMode {
  const { paymentProvider, allowSimulatedPayments } = settings(env);
  if (paymentProvider !== "stripe" && paymentProvider !== "simulated") {
    return {
      provider: "simulated",
      live: false,
      ready: false,
      problem: `PAYMENT_PROVIDER "${paymentProvider}" is not a gateway this shop knows: use "stripe" or "simulated"`,
    };
  }
  if (paymentProvider === "stripe") {
    return env.STRIPE_SECRET_KEY
      ? { provider: "stripe", live: true, ready: true }
      : {
          provider: "stripe",
          live: true,
          ready: false,
          problem:
            "PAYMENT_PROVIDER is stripe but STRIPE_SECRET_KEY is not set (wrangler secret put STRIPE_SECRET_KEY)",
        };
  }
  return allowSimulatedPayments
    ? { provider: "simulated", live: false, ready: true }
    : {
        provider: "simulated",
        live: false,
        ready: false,
        problem:
          'The payment simulator takes no money and is not allowed here: set PAYMENT_PROVIDER = "stripe" (and STRIPE_SECRET_KEY), or ALLOW_SIMULATED_PAYMENTS = "true" for a demo shop',
      };
}

/** Stripe's default limit is about 25 requests/s per endpoint; the simulator has none. */
const DEFAULT_GATEWAY_RPS = { stripe: 20, simulated: 0 } as const;

/** Calls per second all consumers together may make to the payment gateway; 0 for no limit. */
export function gatewayRps(env: Env): number {
  const configured = settings(env).paymentGatewayRps;
  if (configured !== null) return configured;
  return DEFAULT_GATEWAY_RPS[paymentMode(env).provider];
}

/** The shop as its emails name it (see wrangler.toml, SHOP_*). */
export function shopIdentity(env: Env) {
  const url = (env.SHOP_URL ?? "").trim();
  let host = "";
  try {
    host = url ? new URL(url).hostname : "";
  } catch {
    host = "";
  }
  return {
    name: (env.SHOP_NAME ?? "").trim() || "Stampede shop",
    url,
    logoUrl: (env.SHOP_LOGO_URL ?? "").trim(),
    supportEmail: (env.SHOP_SUPPORT_EMAIL ?? "").trim(),
    from: (env.EMAIL_FROM ?? "").trim() || `orders@${host || "stampede.invalid"}`,
  };
}
