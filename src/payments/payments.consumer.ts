import { z } from "zod";
import { logEvent } from "../shared/log";
import { attemptPayment, retryDelaySeconds, settleByGatewayTruth } from "./settlement";

export const PAYMENTS_QUEUE = "stampede-payments";
export const PAYMENTS_DLQ = "stampede-payments-dlq";

export const PaymentMessage = z.object({ orderId: z.string().min(1).max(64) }).strict();
export type PaymentMessage = z.infer<typeof PaymentMessage>;

/**
 * Every message is handled on its own and acked or retried explicitly; every message may be a
 * duplicate, which `attemptPayment` makes harmless. An outcome the gateway left unknown, or an error
 * here, is retried with exponential backoff; after the queue's `max_retries` it goes to the DLQ.
 */
export async function consumePayments(batch: MessageBatch, env: Env) {
  for (const message of batch.messages) {
    const parsed = PaymentMessage.safeParse(message.body);
    if (!parsed.success) {
      logEvent("error", "malformed payment message dropped", { id: message.id, issues: parsed.error.issues });
      message.ack();
      continue;
    }
    try {
      const outcome = await attemptPayment(env, parsed.data.orderId);
      if (outcome === "settled") message.ack();
      else message.retry({ delaySeconds: retryDelaySeconds(env, message.attempts) });
    } catch (error) {
      logEvent("warn", "payment attempt failed; will retry", {
        orderId: parsed.data.orderId,
        error: String(error),
      });
      message.retry({ delaySeconds: retryDelaySeconds(env, message.attempts) });
    }
  }
}

/** Dead letters: retries are over, so settle each order by what the gateway really did. */
export async function consumeDeadPayments(batch: MessageBatch, env: Env) {
  for (const message of batch.messages) {
    const parsed = PaymentMessage.safeParse(message.body);
    if (!parsed.success) {
      logEvent("error", "malformed dead payment message dropped", { id: message.id });
      message.ack();
      continue;
    }
    try {
      await settleByGatewayTruth(env, parsed.data.orderId);
      message.ack();
    } catch (error) {
      logEvent("error", "dead payment could not be settled; will retry", {
        orderId: parsed.data.orderId,
        error: String(error),
      });
      message.retry({ delaySeconds: retryDelaySeconds(env, message.attempts) });
    }
  }
}
