import Stripe from "stripe";
import type { ChargeLookup, ChargeOutcome, ChargeRequest, PaymentGateway } from "./gateway";

/**
 * Stripe PaymentIntents behind the gateway interface, through the official SDK and its fetch HTTP
 * client. Every PaymentIntent is created and confirmed under Stripe's own Idempotency-Key (the
 * order's charge key), so a retry never charges twice, and carries the order id in its metadata so
 * reconciliation can find it.
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

  async charge(request: ChargeRequest): Promise<ChargeOutcome> {
    try {
      const intent = await this.#stripe.paymentIntents.create(
        {
          amount: request.amount.amount,
          currency: request.amount.currency.toLowerCase(),
          payment_method: request.token,
          confirm: true,
          automatic_payment_methods: { enabled: true, allow_redirects: "never" },
          metadata: { order_id: request.orderId },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      if (intent.status === "succeeded") return { status: "succeeded", chargeId: intent.id };
      if (intent.status === "processing") return { status: "unknown", reason: "payment still processing" };
      return { status: "declined", reason: `payment intent ${intent.status}` };
    } catch (error) {
      return outcomeOf(error);
    }
  }

  async lookup(_idempotencyKey: string, orderId: string): Promise<ChargeLookup> {
    const found = await this.#stripe.paymentIntents.search({
      query: `metadata['order_id']:'${orderId.replaceAll("'", "")}'`,
      expand: ["data.latest_charge"],
    });
    const paid = found.data.find((intent) => intent.status === "succeeded");
    if (!paid) return { status: "none" };
    const charge = paid.latest_charge;
    const refunded = typeof charge === "object" && charge !== null && charge.refunded;
    return { status: refunded ? "refunded" : "succeeded", chargeId: paid.id };
  }

  async refund(chargeId: string, idempotencyKey: string): Promise<void> {
    await this.#stripe.refunds.create({ payment_intent: chargeId }, { idempotencyKey });
  }
}

/** A card error is a decline; anything that leaves the charge in doubt is `unknown`. */
function outcomeOf(error: unknown): ChargeOutcome {
  if (error instanceof Stripe.errors.StripeCardError) {
    return { status: "declined", reason: error.decline_code ?? error.code ?? "card_declined" };
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError) {
    return { status: "declined", reason: error.code ?? "invalid_request" };
  }
  return { status: "unknown", reason: error instanceof Error ? error.message : String(error) };
}
