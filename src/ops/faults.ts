import { z } from "zod";
import { createRouter } from "../http/router";
import { paymentMode } from "../shared/config";
import { AppError, validationError } from "../shared/errors";
import { logEvent } from "../shared/log";

/**
 * Fault injection for load tests on this machine (`npm run loadtest -- chaos`): the payment
 * simulator fails, times out or loses its answers, and queue deliveries are dropped or delayed.
 *
 * Off unless the deployment itself sets `FAULT_INJECTION = "true"` (wrangler.toml says "false"; the
 * load-test harness sets it on the runtime it starts) and takes payments through the simulator, so a
 * shop with a real gateway never has it. Even then only the admin token reaches its routes
 * (/v1/admin/faults, under the admin gate). When it is off, the routes answer 404 and the queue handler
 * pays one string comparison per batch.
 *
 * Queue faults live in this isolate's memory (locally the worker is one isolate, which runs the fetch
 * and queue handlers alike) and end by themselves when their time is up, or when the runtime
 * restarts; gateway faults are kept by the simulator and end by themselves too.
 */
export function faultInjectionOn(env: Env): boolean {
  if (env.FAULT_INJECTION !== "true") return false;
  const mode = paymentMode(env);
  return mode.provider === "simulated" && mode.ready;
}

type QueueFault = { mode: "drop" | "delay"; until: number; delaySeconds: number };
let queueFault: QueueFault | null = null;

/**
 * Applies the queue fault in force, if any, to a batch before its consumer sees it: `drop` acks every
 * message unread (the deliveries are lost), `delay` hands them back to the queue to come again after
 * `delaySeconds`. Answers whether it took the batch. Call it only where faultInjectionOn(env).
 */
export function injectQueueFault(batch: MessageBatch): boolean {
  const fault = queueFault;
  if (!fault) return false;
  if (Date.now() >= fault.until) {
    queueFault = null;
    return false;
  }
  if (fault.mode === "drop") batch.ackAll();
  else batch.retryAll({ delaySeconds: fault.delaySeconds });
  logEvent("warn", "injected queue fault", {
    queue: batch.queue,
    mode: fault.mode,
    messages: batch.messages.length,
  });
  return true;
}

const FaultsBody = z
  .object({
    gateway: z
      .object({
        mode: z.enum(["fail", "timeout", "lose"]),
        seconds: z.number().int().min(0).max(3600),
        delayMs: z.number().int().min(0).max(30_000).default(0),
      })
      .strict()
      .optional(),
    queue: z
      .object({
        mode: z.enum(["drop", "delay"]),
        seconds: z.number().int().min(0).max(3600),
        delaySeconds: z.number().int().min(0).max(600).default(5),
      })
      .strict()
      .optional(),
  })
  .strict();

function gate(env: Env) {
  if (!faultInjectionOn(env)) throw new AppError("not_found", { detail: "No fault injection here" });
}

async function describe(env: Env) {
  const fault = queueFault && queueFault.until > Date.now() ? queueFault : null;
  return {
    gateway: await env.SIMULATOR.getByName("simulator").chargeFault(),
    queue: fault
      ? { mode: fault.mode, delaySeconds: fault.delaySeconds, endsInMs: fault.until - Date.now() }
      : null,
  };
}

/**
 * The admin's switch for faults (not part of the public API, so not in the OpenAPI document):
 * `PUT /v1/admin/faults` with `{ gateway?: {mode, seconds, delayMs}, queue?: {mode, seconds,
 * delaySeconds} }` starts them, `DELETE` ends every fault, `GET` says what is in force.
 */
export const faultRoutes = createRouter()
  .get("/faults", async (c) => {
    gate(c.env);
    return c.json(await describe(c.env), 200);
  })
  .put("/faults", async (c) => {
    gate(c.env);
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch (error) {
      throw new AppError("invalid_json", { detail: "The body is not JSON", cause: error });
    }
    const parsed = FaultsBody.safeParse(raw);
    if (!parsed.success) throw validationError(parsed.error, "body");
    const { gateway, queue } = parsed.data;
    if (gateway) {
      await c.env.SIMULATOR.getByName("simulator").breakCharges(
        gateway.mode,
        gateway.seconds,
        gateway.delayMs,
      );
    }
    if (queue) {
      queueFault = {
        mode: queue.mode,
        until: Date.now() + queue.seconds * 1000,
        delaySeconds: queue.delaySeconds,
      };
    }
    logEvent("warn", "faults injected", { gateway, queue });
    return c.json(await describe(c.env), 200);
  })
  .delete("/faults", async (c) => {
    gate(c.env);
    queueFault = null;
    await c.env.SIMULATOR.getByName("simulator").breakCharges("fail", 0);
    return c.json(await describe(c.env), 200);
  });
