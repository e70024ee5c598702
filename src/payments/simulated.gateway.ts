import type { ChargeLookup, ChargeOutcome, ChargeRef, ChargeRequest, PaymentGateway } from "./gateway";
import type { GatewaySimulator } from "./simulator.do";

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
    return answers.map((answer) => {
      if (answer.ok) return { status: "succeeded", chargeId: answer.charge.id };
      if (answer.kind === "declined") return { status: "declined", reason: answer.reason };
      return { status: "unknown", reason: `${answer.status} ${answer.reason}` };
    });
  }

  async lookup(ref: ChargeRef): Promise<ChargeLookup> {
    const charge = await this.#simulator.lookup(ref.idempotencyKey);
    return charge ? { status: charge.status, chargeId: charge.id } : { status: "none" };
  }

  async refund(chargeId: string): Promise<void> {
    await this.#simulator.refund(chargeId);
  }
}
