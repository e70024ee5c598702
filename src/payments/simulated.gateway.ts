import type { Money } from "../shared/money";
import type {
  CardFingerprint,
  ChargeLookup,
  ChargeOutcome,
  ChargeRef,
  ChargeRequest,
  PaymentGateway,
  RefundOutcome,
} from "./gateway";
import type { GatewaySimulator, SimulatorLookup } from "./simulator.do";

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
