import Stripe from "stripe";
import type { Money } from "../shared/money";
import type {
  CardFingerprint,
  ChargeLookup,
  ChargeOutcome,
  ChargeRef,
  ChargeRequest,
  PaymentAction,
  PaymentGateway,
  RefundOutcome,
} from "./gateway";

/**
 * Stripe PaymentIntents behind the gateway interface, through the official SDK and its fetch HTTP
 * client. A charge is two idempotent steps: create the PaymentIntent under the order's charge key
 * (its id is then reported and kept with the order), then confirm it under a key of its own. A lookup
 * retrieves that PaymentIntent by id: Stripe's Search API is not read-after-write consistent, so a
 * charge made a moment ago could be missing from it.
 *
 * A card that needs 3-D Secure leaves the PaymentIntent `requires_action`: the buyer completes it with
 * Stripe.js (`handleNextAction` and the intent's client secret), and Stripe's webhook says so.
 */
export class StripeGateway implements PaymentGateway {
  readonly #stripe: Stripe;

  /** `apiBase`: another Stripe API endpoint (a local fake, stripe-mock) than api.stripe.com. */
  constructor(secretKey: string, options: { fetchFn?: typeof fetch; apiBase?: string } = {}) {
    this.#stripe = new Stripe(secretKey, {
      httpClient: Stripe.createFetchHttpClient(options.fetchFn),
      maxNetworkRetries: 0,
      timeout: 20_000,
      ...stripeEndpoint(options.apiBase),
    });
  }

  static fromEnv(env: Env): StripeGateway {
    const key = env.STRIPE_SECRET_KEY;
    if (!key)
      throw new Error("PAYMENT_PROVIDER is stripe but STRIPE_SECRET_KEY is not set (wrangler secret put)");
    return new StripeGateway(key, { apiBase: env.STRIPE_API_BASE });
  }

  /**
   * The order's PaymentIntent, created once: the same key and parameters always answer the same one.
   * The storefront sends a PaymentMethod (`pm_…`) or, from Stripe Elements, a ConfirmationToken
   * (`ctoken_…`), which is given when the intent is confirmed.
   */
  #intentFor(request: ChargeRequest) {
    const method = request.token.startsWith("ctoken_") ? {} : { payment_method: request.token };
    return this.#stripe.paymentIntents.create(
      {
        amount: request.amount.amount,
        currency: request.amount.currency.toLowerCase(),
        ...method,
        automatic_payment_methods: { enabled: true, allow_redirects: "never" },
        metadata: { order_id: request.orderId },
      },
      { idempotencyKey: request.idempotencyKey },
    );
  }

  /**
   * The card's fingerprint, read before the payment is confirmed: a ConfirmationToken previews the
   * PaymentMethod it will create (`payment_method_preview.card`), a PaymentMethod shows its own
   * `card`. Other payment methods, and other tokens, have none.
   */
  async fingerprint(token: string): Promise<CardFingerprint> {
    try {
      let fingerprint: string | null | undefined = null;
      if (token.startsWith("ctoken_")) {
        const preview = (await this.#stripe.confirmationTokens.retrieve(token)).payment_method_preview;
        fingerprint = preview?.card?.fingerprint;
      } else if (token.startsWith("pm_")) {
        fingerprint = (await this.#stripe.paymentMethods.retrieve(token)).card?.fingerprint;
      }
      return fingerprint ? { status: "card", fingerprint } : { status: "none" };
    } catch (error) {
      if (error instanceof Stripe.errors.StripeRateLimitError)
        return { status: "throttled", retryAfterMs: 1000 };
      // No such token (or not ours): confirming it would be refused the same way.
      if (error instanceof Stripe.errors.StripeInvalidRequestError) {
        return { status: "invalid", reason: error.code ?? "invalid_request" };
      }
      throw error;
    }
  }

  /** Stripe has no batch call: the charges go out side by side. */
  chargeAll(requests: ChargeRequest[]): Promise<ChargeOutcome[]> {
    return Promise.all(requests.map((request) => this.charge(request)));
  }

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    let intentId: string | undefined;
    try {
      intentId = (await this.#intentFor(request)).id;
      const token = request.token.startsWith("ctoken_") ? { confirmation_token: request.token } : {};
      const intent = await this.#stripe.paymentIntents.confirm(intentId, token, {
        idempotencyKey: `${request.idempotencyKey}-confirm`,
      });
      if (intent.status === "succeeded") return { status: "succeeded", chargeId: intent.id, intentId };
      if (intent.status === "processing") return { status: "processing", intentId };
      const action = actionOf(intent);
      if (action) return { status: "requires_action", action, intentId };
      return { status: "declined", reason: `payment intent ${intent.status}`, intentId };
    } catch (error) {
      return { ...outcomeOf(error), ...(intentId ? { intentId } : {}) };
    }
  }

  /**
   * Reads the order's PaymentIntent by the id it was given. When that id was never reported (the
   * attempt died between Stripe's answer and ours), the same idempotent create answers it again.
   */
  async #intent(ref: ChargeRef): Promise<Stripe.PaymentIntent> {
    const id = ref.intentId ?? (await this.#intentFor(ref)).id;
    return this.#stripe.paymentIntents.retrieve(id, { expand: ["latest_charge"] });
  }

  async lookup(ref: ChargeRef): Promise<ChargeLookup> {
    return lookupOf(await this.#intent(ref));
  }

  /**
   * Cancels an intent that could still be confirmed: one waiting for the buyer, and one whose
   * authentication failed (`requires_payment_method`), which its client secret could otherwise confirm
   * with another card. One that completed meanwhile is answered as it is. Cancelling is idempotent in
   * itself (a cancelled intent stays so), so no key is needed.
   */
  async abandon(ref: ChargeRef): Promise<ChargeLookup> {
    const intent = await this.#intent(ref);
    if (!CANCELLABLE.has(intent.status)) return lookupOf(intent);
    try {
      return lookupOf(
        await this.#stripe.paymentIntents.cancel(intent.id, { cancellation_reason: "abandoned" }),
      );
    } catch (error) {
      // The buyer finished first (Stripe refuses to cancel a succeeded intent): read what it is now.
      if (error instanceof Stripe.errors.StripeInvalidRequestError) return this.lookup(ref);
      throw error;
    }
  }

  async refund(chargeId: string, idempotencyKey: string, amount?: Money): Promise<RefundOutcome> {
    try {
      const refund = await this.#stripe.refunds.create(
        { payment_intent: chargeId, ...(amount ? { amount: amount.amount } : {}), expand: ["charge"] },
        { idempotencyKey },
      );
      // `pending` is a refund Stripe accepted and pays out later; failed or canceled never pays.
      if (refund.status === "failed" || refund.status === "canceled") {
        return {
          status: "refused",
          reason: `Stripe refund ${refund.status}: ${refund.failure_reason ?? ""}`,
        };
      }
      const charge = refund.charge;
      return {
        status: "succeeded",
        refundId: refund.id,
        ...(typeof charge === "object" && charge !== null ? { chargeRefunded: charge.amount_refunded } : {}),
      };
    } catch (error) {
      // A request Stripe refuses for what it asks (already refunded, more than is left, disputed) is an
      // answer; anything else (the network, Stripe's 5xx, its rate) leaves the outcome unknown.
      if (error instanceof Stripe.errors.StripeInvalidRequestError) {
        return { status: "refused", reason: `${error.code ?? "invalid_request"}: ${error.message}` };
      }
      throw error;
    }
  }
}

/** The states in which an intent could still be confirmed, and so charge, if left alone. */
const CANCELLABLE = new Set<Stripe.PaymentIntent.Status>([
  "requires_action",
  "requires_payment_method",
  "requires_confirmation",
]);

function lookupOf(intent: Stripe.PaymentIntent): ChargeLookup {
  const intentId = intent.id;
  if (intent.status === "processing") return { status: "pending", intentId };
  const action = actionOf(intent);
  if (action) return { status: "requires_action", action, intentId };
  if (intent.status !== "succeeded") return { status: "none", intentId };
  const charge = intent.latest_charge;
  const refunded = typeof charge === "object" && charge !== null && charge.refunded;
  return { status: refunded ? "refunded" : "succeeded", chargeId: intent.id, intentId };
}

/** What the buyer must do for an intent that waits for them: Stripe.js completes it. */
function actionOf(intent: Stripe.PaymentIntent): PaymentAction | null {
  if (intent.status !== "requires_action" || !intent.client_secret) return null;
  return { type: "use_stripe_sdk", clientSecret: intent.client_secret };
}

/** A Stripe client for this deployment (its key and API endpoint), for calls beyond the gateway's. */
export function stripeClient(env: Env): Stripe {
  return new Stripe(env.STRIPE_SECRET_KEY || "sk_unused", {
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: 1,
    timeout: 10_000,
    ...stripeEndpoint(env.STRIPE_API_BASE),
  });
}

/** The SDK's `host`/`port`/`protocol` for an API base URL such as `http://127.0.0.1:12111`. */
function stripeEndpoint(apiBase: string | undefined) {
  if (!apiBase) return {};
  const url = new URL(apiBase);
  const protocol = url.protocol === "http:" ? ("http" as const) : ("https" as const);
  return { host: url.hostname, port: url.port || (protocol === "http" ? "80" : "443"), protocol };
}

/**
 * A card error is a decline; a 429 is "later" (Stripe refused the request before doing anything);
 * anything else that leaves the charge in doubt is `unknown`.
 */
function outcomeOf(error: unknown): ChargeOutcome {
  if (error instanceof Stripe.errors.StripeRateLimitError) return { status: "throttled", retryAfterMs: 1000 };
  if (error instanceof Stripe.errors.StripeCardError) {
    return { status: "declined", reason: error.decline_code ?? error.code ?? "card_declined" };
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError) {
    return { status: "declined", reason: error.code ?? "invalid_request" };
  }
  return { status: "unknown", reason: error instanceof Error ? error.message : String(error) };
}
