import { settings } from "../config";
import type { Money } from "../shared/money";

export type ChargeRequest = { orderId: string; idempotencyKey: string; amount: Money; token: string };

/**
 * `unknown` means the gateway may or may not have charged (a timeout, a 5xx): the caller must ask
 * `lookup` before trying again, never assume either way.
 */
export type ChargeOutcome =
  | { status: "succeeded"; chargeId: string }
  | { status: "declined"; reason: string }
  | { status: "unknown"; reason: string };

export type ChargeLookup = { status: "succeeded" | "refunded"; chargeId: string } | { status: "none" };

/** A payment gateway as the rest of Stampede sees it: every call is idempotent by its key. */
export interface PaymentGateway {
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /** What the gateway really did for this idempotency key. */
  lookup(idempotencyKey: string, orderId: string): Promise<ChargeLookup>;
  refund(chargeId: string, idempotencyKey: string): Promise<void>;
}

/** The one key per order under which every attempt to charge it is made. */
export function chargeKey(orderId: string): string {
  return `order-${orderId}`;
}

export async function gatewayFor(env: Env): Promise<PaymentGateway> {
  if (settings(env).paymentProvider === "stripe") {
    const { StripeGateway } = await import("./stripe.gateway");
    return StripeGateway.fromEnv(env);
  }
  const { SimulatedGateway } = await import("./simulated.gateway");
  return new SimulatedGateway(env.SIMULATOR.getByName("simulator"));
}
