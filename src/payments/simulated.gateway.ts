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
  PaymentGateway,
  RefundOutcome,
} from "./gateway";
import type { SimulatedAuthorization } from "./simulator.authorizations";
import type { GatewaySimulator, SimulatorLookup } from "./simulator.do";
import { challengeUrl } from "./simulator.ledger";

/** The simulator behind the gateway interface; its 5xx and timeouts become `unknown` outcomes. */
export class SimulatedGateway implements PaymentGateway {
  readonly #simulator: DurableObjectStub<GatewaySimulator>;

  constructor(simulator: DurableObjectStub<GatewaySimulator>) {
    this.#simulator = simulator;
  }

  async chargeAll(requests: ChargeRequest[]): Promise<ChargeOutcome[]> {
    const answers = await this.#simulator.chargeMany(
      requests.map((request) => ({
        idempotencyKey: request.idempotencyKey,
        orderId: request.orderId,
        amount: request.amount.amount,
        currency: request.amount.currency,
        token: request.token,
      })),
    );
    return answers.map((answer): ChargeOutcome => {
      if (answer.ok) return { status: "succeeded", chargeId: answer.charge.id };
      switch (answer.kind) {
        case "declined":
          return { status: "declined", reason: answer.reason };
        case "requires_action":
          return {
            status: "requires_action",
            intentId: answer.intentId,
            action: { type: "redirect_to_url", url: answer.url },
          };
        case "processing":
          return { status: "processing", intentId: answer.intentId };
        default:
          return { status: "unknown", reason: `${answer.status} ${answer.reason}` };
      }
    });
  }

  async fingerprint(token: string): Promise<CardFingerprint> {
    const fingerprint = await this.#simulator.fingerprint(token);
    return fingerprint === null ? { status: "none" } : { status: "card", fingerprint };
  }

  async lookup(ref: ChargeRef): Promise<ChargeLookup> {
    return lookupOf(await this.#simulator.lookup(ref.idempotencyKey));
  }

  async refund(chargeId: string, idempotencyKey: string, amount?: Money): Promise<RefundOutcome> {
    const answer = await this.#simulator.refund(chargeId, idempotencyKey, amount?.amount);
    if (answer.ok) {
      return { status: "succeeded", refundId: answer.refundId, chargeRefunded: answer.chargeRefunded };
    }
    if (answer.kind === "refused") return { status: "refused", reason: answer.reason };
    throw new Error(answer.reason);
  }

  async abandon(ref: ChargeRef): Promise<ChargeLookup> {
    return lookupOf(await this.#simulator.abandon(ref.idempotencyKey));
  }

  async authorize(request: ChargeRequest): Promise<AuthorizeOutcome> {
    const answer = await this.#simulator.authorize(argsOf(request));
    if (!answer.ok) {
      return answer.kind === "declined"
        ? { status: "declined", reason: answer.reason }
        : { status: "unknown", reason: `${answer.status} ${answer.reason}` };
    }
    const hold = answer.authorization;
    if (!hold) return { status: "unknown", reason: "the simulator answered no authorization" };
    const intentId = hold.id;
    // A repeat answers as the first call did: a hold once placed stays "authorized" here, whatever
    // became of it since (lookupAuthorization says that), as Stripe replays the first answer.
    if (hold.authorizedAt !== null && hold.expiresAt !== null) {
      return { status: "authorized", intentId, expiresAt: hold.expiresAt };
    }
    if (hold.status === "requires_action") {
      return {
        status: "requires_action",
        intentId,
        action: { type: "redirect_to_url", url: challengeUrl(hold.id) },
      };
    }
    return { status: "declined", reason: hold.reason ?? "authorization_cancelled", intentId };
  }

  async capture(ref: AuthorizationRef, orderId?: string): Promise<CaptureOutcome> {
    const answer = await this.#simulator.capture(ref.idempotencyKey, orderId);
    if (!answer.ok) {
      return {
        status: "unknown",
        reason: answer.kind === "error" ? `${answer.status} ${answer.reason}` : answer.reason,
      };
    }
    const hold = answer.authorization;
    if (!hold) return { status: "not_authorized", state: "none" };
    const intentId = hold.id;
    switch (hold.status) {
      case "captured":
        return { status: "succeeded", chargeId: hold.chargeId as string, captured: hold.amount, intentId };
      case "requires_action":
        return { status: "not_authorized", state: "requires_action", intentId };
      case "cancelled":
        return { status: "failed", reason: "authorization_cancelled", intentId };
      case "expired":
        return { status: "failed", reason: "authorization_expired", intentId };
      case "failed":
        return { status: "failed", reason: hold.reason ?? "declined", intentId };
      case "authorized":
        return { status: "unknown", reason: "the simulator left the hold uncaptured", intentId };
    }
  }

  async cancelAuthorization(ref: AuthorizationRef): Promise<AuthorizationLookup> {
    const answer = await this.#simulator.cancelAuthorization(argsOf(ref));
    if (!answer.ok) throw new Error(`cancelling the authorization: ${answer.reason}`);
    return holdLookupOf(answer.authorization);
  }

  async lookupAuthorization(ref: AuthorizationRef): Promise<AuthorizationLookup> {
    return holdLookupOf(await this.#simulator.lookupAuthorization(ref.idempotencyKey));
  }
}

function argsOf(request: ChargeRequest) {
  return {
    idempotencyKey: request.idempotencyKey,
    orderId: request.orderId,
    amount: request.amount.amount,
    currency: request.amount.currency,
    token: request.token,
  };
}

function holdLookupOf(hold: SimulatedAuthorization | null): AuthorizationLookup {
  if (!hold) return { status: "none" };
  const intentId = hold.id;
  switch (hold.status) {
    case "authorized":
      return { status: "authorized", expiresAt: hold.expiresAt as string, intentId };
    case "captured":
      return { status: "captured", chargeId: hold.chargeId as string, captured: hold.amount, intentId };
    case "cancelled":
    case "expired":
      return { status: "cancelled", expired: hold.status === "expired", intentId };
    case "failed":
      return { status: "failed", reason: hold.reason ?? "declined", intentId };
    case "requires_action":
      return {
        status: "requires_action",
        action: { type: "redirect_to_url", url: challengeUrl(hold.id) },
        intentId,
      };
  }
}

function lookupOf(found: SimulatorLookup): ChargeLookup {
  if (!found) return { status: "none" };
  if (found.kind === "charge") return { status: found.charge.status, chargeId: found.charge.id };
  const { payment } = found;
  if (payment.status === "requires_action") {
    return {
      status: "requires_action",
      intentId: payment.id,
      action: { type: "redirect_to_url", url: found.url },
    };
  }
  return payment.status === "processing"
    ? { status: "pending", intentId: payment.id }
    : { status: "none", intentId: payment.id };
}
