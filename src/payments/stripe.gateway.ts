import Stripe from "stripe";
import type { Money } from "../shared/money";
import type {
  AuthorizationLookup,
  AuthorizationRef,
  AuthorizeOutcome,
  CaptureOutcome,
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
  #intentFor(request: ChargeRequest, capture: "automatic" | "manual" = "automatic") {
    const method = request.token.startsWith("ctoken_") ? {} : { payment_method: request.token };
    return this.#stripe.paymentIntents.create(
      {
        amount: request.amount.amount,
        currency: request.amount.currency.toLowerCase(),
        ...method,
        // A hold's intent differs from a charge's only here (the SDK's default is automatic).
        ...(capture === "manual" ? { capture_method: "manual" as const } : {}),
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

  /**
   * A hold: the intent created with `capture_method: "manual"` under the key, then confirmed under a
   * key of its own, as a charge is; a card that accepts it leaves the intent `requires_capture`.
   */
  async authorize(request: ChargeRequest): Promise<AuthorizeOutcome> {
    let intentId: string | undefined;
    try {
      intentId = (await this.#intentFor(request, "manual")).id;
      const token = request.token.startsWith("ctoken_") ? { confirmation_token: request.token } : {};
      const intent = await this.#stripe.paymentIntents.confirm(
        intentId,
        { ...token, expand: ["latest_charge"] },
        { idempotencyKey: `${request.idempotencyKey}-confirm` },
      );
      const hold = holdOf(intent);
      if (hold.status === "authorized") return { status: "authorized", intentId, expiresAt: hold.expiresAt };
      if (hold.status === "requires_action")
        return { status: "requires_action", action: hold.action, intentId };
      if (hold.status === "failed") return { status: "declined", reason: hold.reason, intentId };
      return { status: "unknown", reason: `payment intent ${intent.status}`, intentId };
    } catch (error) {
      return { ...outcomeOf(error), ...(intentId ? { intentId } : {}) };
    }
  }

  /**
   * Reads the intent first and captures only a live hold, so a capture refused for the state it
   * found (answered again under its key for good, as Stripe keeps a 400) is never made too early. A
   * refusal after that (a cancel won the race) or a repeat is answered by reading the intent again.
   * The order the charge becomes goes in the capture's own metadata, so the intent names it from the
   * moment it is charged (the charge keeps the copy Stripe made at confirmation, the owner's: Stripe
   * never updates it, so events about a charge are read through its intent).
   */
  async capture(ref: AuthorizationRef, orderId?: string): Promise<CaptureOutcome> {
    let intentId = ref.intentId ?? undefined;
    try {
      const intent = await this.#hold(ref);
      intentId = intent.id;
      if (intent.status !== "requires_capture") return captureOutcomeOf(holdOf(intent), intentId);
      try {
        const metadata = orderId ? { metadata: { order_id: orderId, hold_owner: ref.orderId } } : {};
        const captured = await this.#stripe.paymentIntents.capture(intentId, metadata, {
          idempotencyKey: `${ref.idempotencyKey}-capture`,
        });
        return captureOutcomeOf(holdOf(captured), intentId);
      } catch (error) {
        // Refused for the state it found, or its key used before with other parameters: read it again.
        const refused =
          error instanceof Stripe.errors.StripeInvalidRequestError ||
          error instanceof Stripe.errors.StripeIdempotencyError;
        if (!refused) throw error;
        return captureOutcomeOf(holdOf(await this.#hold({ ...ref, intentId })), intentId);
      }
    } catch (error) {
      const withId = intentId ? { intentId } : {};
      // Declined at capture: the hold is spent and nothing was charged.
      if (error instanceof Stripe.errors.StripeCardError) {
        return { status: "failed", reason: error.decline_code ?? error.code ?? "card_declined", ...withId };
      }
      const outcome = outcomeOf(error);
      // Any other refusal (the intent unreadable, a key reused) says nothing of the hold: ask again.
      return outcome.status === "declined"
        ? { status: "unknown", reason: outcome.reason, ...withId }
        : { ...outcome, ...withId };
    }
  }

  /** Cancels an intent that could still be captured or confirmed; answers what it is after. */
  async cancelAuthorization(ref: AuthorizationRef): Promise<AuthorizationLookup> {
    const intent = await this.#hold(ref);
    if (!HOLD_CANCELLABLE.has(intent.status)) return holdOf(intent);
    try {
      return holdOf(
        await this.#stripe.paymentIntents.cancel(
          intent.id,
          { cancellation_reason: "abandoned" },
          { idempotencyKey: `${ref.idempotencyKey}-cancel` },
        ),
      );
    } catch (error) {
      // Captured (or cancelled) a moment before: Stripe refuses the cancel; read what it is now.
      if (error instanceof Stripe.errors.StripeInvalidRequestError) {
        return holdOf(await this.#hold({ ...ref, intentId: intent.id }));
      }
      throw error;
    }
  }

  async lookupAuthorization(ref: AuthorizationRef): Promise<AuthorizationLookup> {
    return holdOf(await this.#hold(ref));
  }

  /** The hold's intent, with its charge (whose `capture_before` says when the hold lapses). */
  async #hold(ref: AuthorizationRef): Promise<Stripe.PaymentIntent> {
    const id = ref.intentId ?? (await this.#intentFor(ref, "manual")).id;
    return this.#stripe.paymentIntents.retrieve(id, { expand: ["latest_charge"] });
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

/** The states in which a hold's intent could still be captured, or confirmed into a hold. */
const HOLD_CANCELLABLE = new Set<Stripe.PaymentIntent.Status>([...CANCELLABLE, "requires_capture"]);

/**
 * How long an online card hold lasts at Stripe when the charge does not say (`capture_before`):
 * 7 days for a customer-initiated card-not-present authorization ("Place a hold on a payment method").
 */
const STRIPE_HOLD_MS = 7 * 24 * 60 * 60 * 1000;

function holdOf(intent: Stripe.PaymentIntent): AuthorizationLookup {
  const intentId = intent.id;
  switch (intent.status) {
    case "requires_capture": {
      const charge = typeof intent.latest_charge === "object" ? intent.latest_charge : null;
      const before = charge?.payment_method_details?.card?.capture_before;
      const expiresAt = before ? before * 1000 : intent.created * 1000 + STRIPE_HOLD_MS;
      return { status: "authorized", expiresAt: new Date(expiresAt).toISOString(), intentId };
    }
    case "succeeded":
      return {
        status: "captured",
        chargeId: intent.id,
        captured: { amount: intent.amount_received, currency: intent.currency.toUpperCase() },
        intentId,
      };
    case "canceled":
      // Stripe cancels a hold that lapses uncaptured itself, as `automatic`.
      return { status: "cancelled", expired: intent.cancellation_reason === "automatic", intentId };
    case "processing":
      return { status: "pending", intentId };
    case "requires_action": {
      const action = actionOf(intent);
      return action ? { status: "requires_action", action, intentId } : { status: "pending", intentId };
    }
    default: {
      const error = intent.last_payment_error;
      return error
        ? { status: "failed", reason: error.decline_code ?? error.code ?? "card_declined", intentId }
        : { status: "none", intentId };
    }
  }
}

function captureOutcomeOf(hold: AuthorizationLookup, intentId: string): CaptureOutcome {
  switch (hold.status) {
    case "captured":
      return { status: "succeeded", chargeId: hold.chargeId, captured: hold.captured, intentId };
    case "cancelled":
      return {
        status: "failed",
        reason: hold.expired ? "authorization_expired" : "authorization_cancelled",
        intentId,
      };
    case "failed":
      return { status: "failed", reason: hold.reason, intentId };
    case "authorized":
      return { status: "unknown", reason: "the hold is still uncaptured", intentId };
    default:
      return { status: "not_authorized", state: hold.status, intentId };
  }
}

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
function outcomeOf(
  error: unknown,
):
  | { status: "throttled"; retryAfterMs: number }
  | { status: "declined"; reason: string }
  | { status: "unknown"; reason: string } {
  if (error instanceof Stripe.errors.StripeRateLimitError) return { status: "throttled", retryAfterMs: 1000 };
  if (error instanceof Stripe.errors.StripeCardError) {
    return { status: "declined", reason: error.decline_code ?? error.code ?? "card_declined" };
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError) {
    return { status: "declined", reason: error.code ?? "invalid_request" };
  }
  return { status: "unknown", reason: error instanceof Error ? error.message : String(error) };
}
