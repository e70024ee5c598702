import { AppError } from "../shared/errors";
import type { DeliveryTarget } from "./endpoints.do";
import type { DeliveryMessage } from "./webhooks.args";
import {
  type CreateEndpoint,
  type DeadLetter,
  DeadLetterId,
  type Endpoint,
  EndpointId,
  type EndpointWithSecret,
  type UpdateEndpoint,
} from "./webhooks.schemas";

/** The one registry object of the shop. */
export function registry(env: Env) {
  return env.WEBHOOKS_REGISTRY.getByName("registry");
}

/** How long a consumer isolate uses the endpoints it read, so a busy queue asks the registry rarely. */
const TARGETS_TTL_MS = 5_000;
let targetsCache: { targets: DeliveryTarget[]; until: number } | null = null;

/**
 * The enabled endpoints with their secrets, as of at most a few seconds ago (`fresh`: asked now).
 * So a change made elsewhere reaches deliveries within seconds; one made in this isolate at once.
 */
export async function deliveryTargets(env: Env, fresh = false): Promise<DeliveryTarget[]> {
  const now = Date.now();
  if (!fresh && targetsCache && targetsCache.until > now) return targetsCache.targets;
  const targets = await registry(env).targets();
  targetsCache = { targets, until: now + TARGETS_TTL_MS };
  return targets;
}

function forgetTargets() {
  targetsCache = null;
}

const endpointNotFound = (id: string) =>
  new AppError("webhook_endpoint_not_found", { detail: `No webhook endpoint ${id}` });

/** An id that is not even well-formed names no endpoint: the same 404 as an unknown one. */
function endpointId(id: string): string {
  if (!EndpointId.safeParse(id).success) throw endpointNotFound(id);
  return id;
}

export async function createEndpoint(env: Env, input: CreateEndpoint): Promise<EndpointWithSecret> {
  const created = await registry(env).create(input);
  if (!created) {
    throw new AppError("webhook_endpoint_limit", {
      detail: "This shop has as many webhook endpoints as it may; delete one first",
    });
  }
  forgetTargets();
  return created;
}

export async function getEndpoint(env: Env, id: string): Promise<Endpoint> {
  const wanted = endpointId(id);
  const endpoint = (await registry(env).list()).find((candidate) => candidate.id === wanted);
  if (!endpoint) throw endpointNotFound(id);
  return endpoint;
}

export async function updateEndpoint(env: Env, id: string, patch: UpdateEndpoint): Promise<Endpoint> {
  const updated = await registry(env).update(endpointId(id), patch);
  if (!updated) throw endpointNotFound(id);
  forgetTargets();
  return updated;
}

export async function deleteEndpoint(env: Env, id: string): Promise<void> {
  if (!(await registry(env).remove(endpointId(id)))) throw endpointNotFound(id);
  forgetTargets();
}

export async function rotateSecret(env: Env, id: string, graceSeconds: number): Promise<EndpointWithSecret> {
  const rotated = await registry(env).rotateSecret(endpointId(id), graceSeconds);
  if (!rotated) throw endpointNotFound(id);
  forgetTargets();
  return rotated;
}

/**
 * Sends a dead letter's event to its endpoint again, as a new delivery with its own day of retries.
 * Asking again while one is under way starts nothing. Should the queue refuse the message, the letter
 * is dead again and the caller gets a 503 to retry.
 */
export async function redeliver(env: Env, id: string): Promise<{ deadLetter: DeadLetter; started: boolean }> {
  const notFound = new AppError("webhook_dead_letter_not_found", { detail: `No dead letter ${id}` });
  if (!DeadLetterId.safeParse(id).success) throw notFound;
  const answer = await registry(env).beginRedelivery(id);
  if (answer.kind === "not_found") throw notFound;
  if (answer.kind === "endpoint_disabled") {
    throw new AppError("webhook_endpoint_disabled", {
      detail: "The letter's endpoint is disabled: enable it first (PATCH its enabled to true)",
    });
  }
  if (answer.kind === "under_way") return { deadLetter: answer.letter, started: false };
  const message: DeliveryMessage = {
    event: answer.letter.event,
    endpointId: answer.letter.endpointId,
    attempt: 1,
    firstAttemptAt: Date.now(),
    deadLetterId: answer.letter.id,
  };
  try {
    await env.WEBHOOKS.send(message, { contentType: "json" });
  } catch (error) {
    await registry(env)
      .abandonRedeliveries([id])
      .catch(() => undefined);
    throw new AppError("service_unavailable", {
      detail: "The redelivery could not be queued; nothing was sent, retry shortly",
      headers: { "Retry-After": "5" },
      cause: error,
    });
  }
  return { deadLetter: answer.letter, started: true };
}
