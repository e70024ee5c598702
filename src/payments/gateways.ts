import { paymentMode } from "../shared/config";
import type { PaymentGateway } from "./gateway";

/** The gateway this deployment takes payments through: Stripe, or the simulator where it is allowed. */
export async function gatewayFor(env: Env): Promise<PaymentGateway> {
  // Orders accepted before a deployment lost its gateway wait (their messages retry); none is
  // "paid" by a simulator that is not allowed here.
  const mode = paymentMode(env);
  if (!mode.ready) throw new Error(`payments are not configured: ${mode.problem}`);
  if (mode.provider === "stripe") {
    const { StripeGateway } = await import("./stripe.gateway");
    return StripeGateway.fromEnv(env);
  }
  const { SimulatedGateway } = await import("./simulated.gateway");
  return new SimulatedGateway(env.SIMULATOR.getByName("simulator"));
}
