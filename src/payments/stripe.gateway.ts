import Stripe from "stripe";
import type { ChargeLookup, ChargeOutcome, ChargeRef, ChargeRequest, PaymentGateway } from "./gateway";

/**
 * Stripe PaymentIntents behind the gateway interface, through the official SDK and its fetch HTTP
 * client. A charge is two idempotent steps: create the PaymentIntent under the order's charge key
 * (its id is then reported and kept with the order), then confirm it under a key of its own. A lookup
 * retrieves that PaymentIntent by id: Stripe's Search API is not read-after-write consistent, so a
 * charge made a moment ago could be missing from it.
 */
export class StripeGateway implements PaymentGateway {
  readonly #stripe: Stripe;

  constructor(secretKey: string, fetchFn?: typeof fetch) {
    this.#stripe = new Stripe(secretKey, {
      httpClient: Stripe.createFetchHttpClient(fetchFn),
      maxNetworkRetries: 0,
      timeout: 20_000,
    });
  }

  static fromEnv(env: Env): StripeGateway {
    const key = env.STRIPE_SECRET_KEY;
    if (!key)
      throw new Error("PAYMENT_PROVIDER is stripe but STRIPE_SECRET_KEY is not set (wrangler secret put)");
    return new StripeGateway(key);
  }

  /** The order's PaymentIntent, created once: the same key and parameters always answer the same one. */
  #intentFor(request: ChargeRequest) {
    return this.#stripe.paymentIntents.create(
      {
        amount: request.amount.amount,
        currency: request.amount.currency.toLowerCase(),
        payment_method: request.token,
        automatic_payment_methods: { enabled: true, allow_redirects: "never" },
        metadata: { order_id: request.orderId },
      },
      { idempotencyKey: request.idempotencyKey },
    );
  }

  /** Stripe has no batch call: the charges go out side by side. */
  chargeAll(requests: ChargeRequest[]): Promise<ChargeOutcome[]> {
    return Promise.all(requests.map((request) => this.charge(request)));
  }

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    let intentId: string | undefined;
    try {
      intentId = (await this.#intentFor(request)).id;
      const intent = await this.#stripe.paymentIntents.confirm(
        intentId,
        {},
        { idempotencyKey: `${request.idempotencyKey}-confirm` },
      );
      if (intent.status === "succeeded") return { status: "succeeded", chargeId: intent.id, intentId };
      if (intent.status === "processing") {
        return { status: "unknown", reason: "payment still processing", intentId };
      }
      return { status: "declined", reason: `payment intent ${intent.status}`, intentId };
    } catch (error) {
      return { ...outcomeOf(error), ...(intentId ? { intentId } : {}) };
    }
  }

  /**
   * Reads the order's PaymentIntent by the id it was given. When that id was never reported (the
   * attempt died between Stripe's answer and ours), the same idempotent create answers it again.
   */
  async lookup(ref: ChargeRef): Promise<ChargeLookup> {
    const id = ref.intentId ?? (await this.#intentFor(ref)).id;
    const intent = await this.#stripe.paymentIntents.retrieve(id, { expand: ["latest_charge"] });
    const intentId = intent.id;
    if (intent.status === "processing") return { status: "pending", intentId };
    if (intent.status !== "succeeded") return { status: "none", intentId };
    const charge = intent.latest_charge;
    const refunded = typeof charge === "object" && charge !== null && charge.refunded;
    return { status: refunded ? "refunded" : "succeeded", chargeId: intent.id, intentId };
  }

  async refund(chargeId: string, idempotencyKey: string): Promise<void> {
    await this.#stripe.refunds.create({ payment_intent: chargeId }, { idempotencyKey });
  }
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
