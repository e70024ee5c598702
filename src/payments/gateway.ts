import type { Money } from "../shared/money";

export type ChargeRequest = { orderId: string; idempotencyKey: string; amount: Money; token: string };

/** One order's charge at the gateway: as it was requested, and the gateway's own id once known. */
export type ChargeRef = ChargeRequest & { intentId: string | null };

/**
 * `unknown` means the gateway may or may not have charged (a timeout, a 5xx): the caller must ask
 * `lookup` before deciding anything, never assume either way. `intentId` is the gateway's own id for
 * the payment, returned as soon as it exists, so a later lookup reads exactly that payment.
 */
export type ChargeOutcome =
  | { status: "succeeded"; chargeId: string; intentId?: string }
  /** The buyer must act (3-D Secure): nothing is charged until they do, or the gateway gives up. */
  | { status: "requires_action"; action: PaymentAction; intentId?: string }
  /** The gateway took the payment and will settle it later (Stripe's `processing`): not a decline. */
  | { status: "processing"; intentId?: string }
  | { status: "declined"; reason: string; intentId?: string }
  | { status: "unknown"; reason: string; intentId?: string }
  /** The gateway refused the call for its rate (Stripe's 429): nothing was done; try again later. */
  | { status: "throttled"; retryAfterMs: number; intentId?: string };

/**
 * What the buyer must do to complete a payment, as Stripe's `next_action` names it: complete it with
 * Stripe.js (`handleNextAction` with the client secret), or follow a URL (the simulator's challenge).
 */
export type PaymentAction =
  | { type: "use_stripe_sdk"; clientSecret: string }
  | { type: "redirect_to_url"; url: string };

/**
 * `pending`: the gateway has the payment but not its result yet (Stripe's `processing`);
 * `requires_action`: it waits for the buyer; `none`: nothing was charged, and nothing will be under
 * this payment unless it is attempted again.
 */
export type ChargeLookup =
  | { status: "succeeded" | "refunded"; chargeId: string; intentId?: string }
  | { status: "requires_action"; action: PaymentAction; intentId?: string }
  | { status: "none" | "pending"; intentId?: string };

/**
 * What the gateway says of a payment token's card before anything is charged. `card`: the gateway's
 * fingerprint of the card number (the same for every token of that card); `none`: not a card, or a
 * gateway that gives none; `invalid`: the gateway knows no such token, so it cannot pay either;
 * `throttled`: asked too fast (429), nothing learned. A call that fails otherwise throws.
 */
export type CardFingerprint =
  | { status: "card"; fingerprint: string }
  | { status: "none" }
  | { status: "invalid"; reason: string }
  | { status: "throttled"; retryAfterMs: number };

/**
 * A gateway's word that one order's payment changed (Stripe's webhooks, the simulator's own events):
 * `type` is the gateway's event type; `detail` what it adds beyond "look again".
 */
export type GatewayEvent = { eventId: string; orderId: string; type: string; detail?: GatewayEventDetail };

/** What an event says beyond "look again": a refund's total so far, or a dispute's standing. */
export type GatewayEventDetail =
  | { refunded: { amount: number; currency: string } }
  | { dispute: { id: string; status: string; reason: string; amount: number; currency: string } };

/** Takes a gateway's event; answers whether the order is known and the event was seen before. */
export type GatewayEventListener = (
  env: Env,
  event: GatewayEvent,
) => Promise<{ known: boolean; duplicate: boolean }>;

export type RefundOutcome =
  /** `chargeRefunded`: refunded of the charge now, every refund together, when the gateway says. */
  { status: "succeeded"; refundId: string; chargeRefunded?: number } | { status: "refused"; reason: string };

/**
 * A hold placed on a card for `amount`, not yet captured (Stripe: a PaymentIntent with
 * `capture_method: "manual"`, confirmed, so `requires_capture`). `expiresAt` (ISO 8601): when the hold
 * lapses by itself and can no longer be captured, as the gateway says it (Stripe: the charge's
 * `payment_method_details.card.capture_before`; 7 days after authorization for an online card
 * payment the customer made, per Stripe's "Place a hold on a payment method"; the simulator: 7 days).
 * `unknown` means the hold may or may not be placed: ask `lookupAuthorization`, never assume.
 */
export type AuthorizeOutcome =
  | { status: "authorized"; intentId: string; expiresAt: string }
  /** Nothing is held, and nothing will be under this key: the card refused the hold. */
  | { status: "declined"; reason: string; intentId?: string }
  /** The card holder must act (3-D Secure) before the hold is placed; nothing is held until then. */
  | { status: "requires_action"; action: PaymentAction; intentId: string }
  | { status: "unknown"; reason: string; intentId?: string }
  /** The gateway refused the call for its rate (Stripe's 429): nothing was done; try again later. */
  | { status: "throttled"; retryAfterMs: number; intentId?: string };

/**
 * What capturing a hold came to. `succeeded`: the full authorized amount is charged, once: a repeat
 * answers the same `chargeId` (which `refund` takes). `failed`: nothing was charged and nothing ever
 * will be under this authorization (declined at capture, the hold lapsed, or it was cancelled);
 * `not_authorized`: no hold to capture yet (it waits for the card holder, or never reached the
 * gateway): nothing was charged, and the state says what the gateway holds. `unknown`: the charge
 * may or may not be made: ask `lookupAuthorization` (or capture again: it is idempotent).
 */
export type CaptureOutcome =
  | { status: "succeeded"; chargeId: string; captured: Money; intentId?: string }
  | { status: "failed"; reason: string; intentId?: string }
  | { status: "not_authorized"; state: "requires_action" | "pending" | "none"; intentId?: string }
  | { status: "unknown"; reason: string; intentId?: string }
  | { status: "throttled"; retryAfterMs: number; intentId?: string };

/**
 * What the gateway really holds for an authorization's key. `authorized`: a live hold, capturable
 * until `expiresAt`; `captured`: charged once, as `chargeId`; `cancelled`: released, by a cancel or
 * (`expired`) because it lapsed, and never charged; `failed`: declined (at authorization or at
 * capture), nothing charged; `requires_action`: waits for the card holder; `pending`: the gateway has
 * it but no result yet (Stripe's `processing`): look again; `none`: nothing under this key.
 */
export type AuthorizationLookup =
  | { status: "authorized"; expiresAt: string; intentId?: string }
  | { status: "captured"; chargeId: string; captured: Money; intentId?: string }
  | { status: "cancelled"; expired: boolean; intentId?: string }
  | { status: "failed"; reason: string; intentId?: string }
  | { status: "requires_action"; action: PaymentAction; intentId?: string }
  | { status: "pending" | "none"; intentId?: string };

/**
 * One authorization at the gateway, as it was requested, and the gateway's own id once known:
 * `orderId` is whatever owns the hold (an order, a draw's entry), kept with the payment as its owner.
 * Every call about it is made under `idempotencyKey`; the rest lets a gateway that lost the id find
 * the payment again (Stripe: the same create under the same key answers the same PaymentIntent).
 */
export type AuthorizationRef = ChargeRef;

/** A payment gateway as the rest of Stampede sees it: every call is idempotent by its key. */
export interface PaymentGateway {
  /** The card behind a payment token, read without charging it (for limits per customer). */
  fingerprint(token: string): Promise<CardFingerprint>;
  /** Charges several orders (a consumer batch's worth), each answered as if alone. */
  chargeAll(requests: ChargeRequest[]): Promise<ChargeOutcome[]>;
  /** What the gateway really did for this order's charge. */
  lookup(ref: ChargeRef): Promise<ChargeLookup>;
  /**
   * Refunds `amount` of a charge (all that is left of it without one), once under the key: a repeat
   * answers as the first did. `refused`: the gateway will not make it (more than is left, the charge
   * disputed); nothing was refunded. A call whose outcome is unknown throws: ask again, same key.
   */
  refund(chargeId: string, idempotencyKey: string, amount?: Money): Promise<RefundOutcome>;
  /**
   * Withdraws a payment still waiting for the buyer, so it can never complete afterwards; answers
   * what the payment is now (a buyer who completed it a moment before leaves it `succeeded`).
   */
  abandon(ref: ChargeRef): Promise<ChargeLookup>;
  /**
   * Places a hold for `amount` without charging it. A repeat under the key answers as the first call
   * did (a hold since captured, cancelled or lapsed still answers `authorized`: `lookupAuthorization`
   * says what it is now). The key is the hold's own, never an order's charge key: Stripe refuses a
   * key reused with other parameters.
   */
  authorize(request: ChargeRequest): Promise<AuthorizeOutcome>;
  /**
   * Captures the full amount of a hold, once under its key (see CaptureOutcome). `orderId`: the order
   * the charge becomes, when it is another than the hold's owner (a draw's entry becomes the order of
   * the unit it won). The gateway records it with the charge in the same call (Stripe: the
   * PaymentIntent's `metadata.order_id`, the owner kept as `metadata.hold_owner`; the simulator: the
   * charge's order), so every later event about the charge (a refund or dispute made at the gateway)
   * names the order, not the owner.
   */
  capture(ref: AuthorizationRef, orderId?: string): Promise<CaptureOutcome>;
  /**
   * Releases a hold, so it can never be captured afterwards; answers what the gateway holds now (a
   * capture that won the race leaves it `captured`). Idempotent: cancelling again answers the same.
   * A call whose outcome is unknown throws: ask again.
   */
  cancelAuthorization(ref: AuthorizationRef): Promise<AuthorizationLookup>;
  /**
   * What the gateway really holds under the key: after an `unknown`, or a crash. A call that cannot
   * be answered (the gateway down) throws: ask again later.
   */
  lookupAuthorization(ref: AuthorizationRef): Promise<AuthorizationLookup>;
}

/** The one key per order under which every attempt to charge it is made. */
export function chargeKey(orderId: string): string {
  return `order-${orderId}`;
}

/** An order's charge as the gateway is asked about it, whoever asks (the consumer, the shard). */
export function chargeRef(order: {
  orderId: string;
  amount: Money;
  token: string;
  intentId: string | null;
}): ChargeRef {
  return { ...order, idempotencyKey: chargeKey(order.orderId) };
}

export function refundKey(orderId: string): string {
  return `refund-${orderId}`;
}

/** The key of a refund the shop asked for: one per refund, whoever makes (or remakes) the call. */
export function shopRefundKey(orderId: string, refundId: string): string {
  return `refund-${orderId}-${refundId}`;
}
