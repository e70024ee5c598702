import { type EventType, ShopEvent } from "../orders/protocol";
import { logEvent } from "../shared/log";
import { BATCH_BYTES, BATCH_MESSAGES, bytesOf, runsBySize } from "../shared/queue-limits";
import { type AttemptResult, deliver, retryDelaySeconds } from "./delivery";
import type { DeliveryTarget } from "./endpoints.do";
import { type DeadLetterRecord, type DeliveryMessage, WebhookMessage } from "./webhooks.args";
import type { Subscriptions } from "./webhooks.schemas";
import { deliveryTargets, registry } from "./webhooks.service";

export const WEBHOOKS_QUEUE = "stampede-webhooks";
export const WEBHOOKS_DLQ = "stampede-webhooks-dlq";

/** Deliveries in flight at once (a Worker has at most 6 connections open; more would only wait). */
const CONCURRENCY = 6;
/**
 * After this many failures in a row, an endpoint gets no more attempts from the batch: its other
 * deliveries are counted as failed and scheduled, so one endpoint that times out cannot hold a batch
 * for minutes.
 */
const BREAKER_FAILURES = 3;
/** Dead letters per call to the registry, well inside what one RPC may carry. */
const LETTER_BYTES = 4_000_000;

type Parsed = ReturnType<typeof WebhookMessage.parse>;
type Failure = Extract<AttemptResult, { ok: false }>;

/** One event for one endpoint. `event` is the object as it came, so every attempt sends the same bytes. */
type Job = {
  message: Message;
  event: ShopEvent;
  target: DeliveryTarget;
  attempt: number;
  firstAttemptAt: number;
  deadLetterId?: string;
};

const subscribed = (target: { events: Subscriptions }, type: EventType) =>
  target.events.includes("*") || target.events.includes(type);

/** For the queue's own retries of a message (the queue or the registry failed, not an endpoint). */
const messageRetryDelay = (message: Message) => Math.min(3600, 30 * 2 ** Math.max(0, message.attempts - 1));

/**
 * The webhooks consumer. A message holds either a shard's events of a moment (each goes to every
 * enabled endpoint subscribed to its type) or one delivery for one endpoint (a retry, a redelivery).
 * A delivery that fails is sent back to the queue as a message of its own, delayed by its backoff
 * (see `retryDelaySeconds`), or recorded as a dead letter once its day is over; so one endpoint's
 * failures never hold back another's deliveries. A message is acked once every follow-up it needs is
 * in the queue or the registry; if any could not be written, it is retried whole (receivers see some
 * deliveries twice, with the same event id). Nothing an endpoint does makes this throw.
 */
export async function consumeWebhooks(batch: MessageBatch, env: Env) {
  const parsed = new Map<Message, Parsed>();
  for (const message of batch.messages) {
    const body = WebhookMessage.safeParse(message.body);
    if (body.success) parsed.set(message, body.data);
    else {
      logEvent("error", "malformed webhook message dropped", { id: message.id });
      message.ack();
    }
  }
  if (parsed.size === 0) return;

  let targets: DeliveryTarget[];
  try {
    targets = await deliveryTargets(env);
    // An endpoint missing from a list a few seconds old may be new: ask before dropping its delivery.
    const named = [...parsed.values()].flatMap((body) => ("endpointId" in body ? [body.endpointId] : []));
    if (named.some((id) => !targets.some((target) => target.id === id))) {
      targets = await deliveryTargets(env, true);
    }
  } catch (error) {
    logEvent("warn", "webhook registry unreachable; deliveries wait", { error: String(error) });
    for (const message of parsed.keys()) message.retry({ delaySeconds: messageRetryDelay(message) });
    return;
  }

  const { jobs, paused } = jobsOf(parsed, targets, Date.now());
  const results = await attempt(jobs);
  const unsaved = await followUp(env, jobs, results);
  for (const message of await keepForLater(env, paused)) unsaved.add(message);
  for (const message of parsed.keys()) {
    if (unsaved.has(message)) message.retry({ delaySeconds: messageRetryDelay(message) });
    else message.ack();
  }
}

/** A delivery owed to an endpoint that is not enabled now: kept as its dead letter, not sent. */
type Owed = { message: Message; body: DeliveryMessage };

function jobsOf(
  parsed: Map<Message, Parsed>,
  targets: DeliveryTarget[],
  now: number,
): { jobs: Job[]; paused: Owed[] } {
  const jobs: Job[] = [];
  const paused: Owed[] = [];
  for (const [message, body] of parsed) {
    if ("events" in body) {
      for (const event of body.events) {
        const checked = ShopEvent.safeParse(event);
        if (!checked.success) {
          logEvent("error", "malformed webhook event dropped", { id: message.id });
          continue;
        }
        for (const target of targets) {
          if (subscribed(target, checked.data.type)) {
            jobs.push({ message, event: event as ShopEvent, target, attempt: 1, firstAttemptAt: now });
          }
        }
      }
      continue;
    }
    const target = targets.find((candidate) => candidate.id === body.endpointId);
    if (!target) {
      // Paused or deleted since: nothing is sent. What a paused endpoint was owed waits as its dead
      // letter, to redeliver once it is enabled (a deleted one's letters went with it).
      paused.push({ message, body });
      continue;
    }
    const { event, attempt, firstAttemptAt, deadLetterId } = body;
    jobs.push({ message, event, target, attempt, firstAttemptAt, ...(deadLetterId ? { deadLetterId } : {}) });
  }
  return { jobs, paused };
}

const NOT_ATTEMPTED = "Not attempted: the endpoint was paused (redeliver once it is enabled)";

/**
 * Deliveries owed to endpoints no longer enabled become dead letters: a redelivery gives its letter
 * back (dead again, its history kept), any other delivery is recorded as a letter; the registry keeps
 * none for an endpoint since deleted. Answers the messages whose letters could not be written.
 */
async function keepForLater(env: Env, owed: Owed[]): Promise<Set<Message>> {
  const unsaved = new Set<Message>();
  if (owed.length === 0) return unsaved;
  const returned = owed.flatMap(({ body }) => (body.deadLetterId ? [body.deadLetterId] : []));
  const records = owed.flatMap(({ body }): DeadLetterRecord[] =>
    body.deadLetterId ? [] : [letterOf(body, NOT_ATTEMPTED)],
  );
  try {
    if (returned.length > 0) await registry(env).abandonRedeliveries(returned);
    if (records.length > 0) await registry(env).recordDeadLetters(records);
    logEvent("info", "webhook deliveries kept as dead letters: endpoint paused or deleted", {
      deliveries: owed.length,
      endpoints: [...new Set(owed.map(({ body }) => body.endpointId))],
    });
  } catch (error) {
    logEvent("warn", "webhook deliveries owed to paused endpoints not recorded; will retry", {
      error: String(error),
    });
    for (const { message } of owed) unsaved.add(message);
  }
  return unsaved;
}

/** The dead letter of one delivery that was not (or no longer) attempted. */
const letterOf = (body: DeliveryMessage, lastError: string): DeadLetterRecord => ({
  endpointId: body.endpointId,
  event: body.event,
  attempts: body.attempt - 1,
  lastStatus: null,
  lastError,
  firstAttemptAt: body.firstAttemptAt,
});

/** Makes every job's attempt, a few at a time, except where its endpoint keeps failing in this batch. */
async function attempt(jobs: Job[]): Promise<AttemptResult[]> {
  const results: AttemptResult[] = [];
  const streaks = new Map<string, { failures: number; last: Failure }>();
  let next = 0;
  const work = async () => {
    while (next < jobs.length) {
      const index = next++;
      const job = jobs[index] as Job;
      const streak = streaks.get(job.target.id);
      if (streak && streak.failures >= BREAKER_FAILURES) {
        results[index] = {
          ...streak.last,
          error: `${streak.last.error} (not attempted again in this batch)`,
        };
        continue;
      }
      const result = await deliver(job.target, job.event, job.attempt);
      results[index] = result;
      if (result.ok) streaks.delete(job.target.id);
      else {
        const failures = (streaks.get(job.target.id)?.failures ?? 0) + 1;
        streaks.set(job.target.id, { failures, last: result });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, jobs.length) }, work));
  return results;
}

/**
 * Writes what each failed delivery needs next (a delayed retry, or a dead letter) and marks redelivered
 * letters delivered. Answers the messages some of whose follow-ups could not be written.
 */
async function followUp(env: Env, jobs: Job[], results: AttemptResult[]): Promise<Set<Message>> {
  const unsaved = new Set<Message>();
  const retries: { job: Job; body: DeliveryMessage; delaySeconds: number; bytes: number }[] = [];
  const dead: { job: Job; record: DeadLetterRecord; bytes: number }[] = [];
  const redelivered: Job[] = [];
  const now = Date.now();
  jobs.forEach((job, index) => {
    const result = results[index] as AttemptResult;
    if (result.ok) {
      if (job.deadLetterId) redelivered.push(job);
      return;
    }
    const delaySeconds = retryDelaySeconds(job.attempt, job.firstAttemptAt, now);
    const { event, target, firstAttemptAt, deadLetterId } = job;
    if (delaySeconds === null) {
      const record: DeadLetterRecord = {
        endpointId: target.id,
        event,
        attempts: job.attempt,
        lastStatus: result.status,
        lastError: result.error.slice(0, 500),
        firstAttemptAt,
      };
      dead.push({ job, record, bytes: bytesOf(JSON.stringify(event)) });
      return;
    }
    const body: DeliveryMessage = {
      event,
      endpointId: target.id,
      attempt: job.attempt + 1,
      firstAttemptAt,
      ...(deadLetterId ? { deadLetterId } : {}),
    };
    retries.push({ job, body, delaySeconds, bytes: bytesOf(JSON.stringify(body)) });
  });

  const failed = (what: string, entries: { job: Job }[], error: unknown) => {
    logEvent("warn", `webhook ${what} could not be written; the message will be retried`, {
      deliveries: entries.length,
      error: String(error),
    });
    for (const { job } of entries) unsaved.add(job.message);
  };
  for (const run of runsBySize(retries, (retry) => retry.bytes, BATCH_BYTES, BATCH_MESSAGES)) {
    await env.WEBHOOKS.sendBatch(
      run.map(({ body, delaySeconds }) => ({ body, delaySeconds, contentType: "json" as const })),
    ).catch((error: unknown) => failed("retries", run, error));
  }
  for (const run of runsBySize(dead, (letter) => letter.bytes, LETTER_BYTES, 500)) {
    await registry(env)
      .recordDeadLetters(run.map(({ record }) => record))
      .catch((error: unknown) => failed("dead letters", run, error));
  }
  if (redelivered.length > 0) {
    const ids = redelivered.map((job) => job.deadLetterId as string);
    await registry(env)
      .redelivered(ids)
      .catch((error: unknown) =>
        failed(
          "redeliveries",
          redelivered.map((job) => ({ job })),
          error,
        ),
      );
  }
  if (retries.length + dead.length > 0) {
    logEvent("info", "webhook deliveries failed", {
      attempted: jobs.length,
      retried: retries.length,
      dead: dead.length,
      endpoints: [...new Set([...retries, ...dead].map(({ job }) => job.target.id))],
    });
  }
  return unsaved;
}

/**
 * Messages the queue gave up on (the queue or the registry kept failing, not an endpoint): every
 * delivery they held becomes a dead letter of its endpoint, to be redelivered from the admin API. A
 * shard's events go to the endpoints that would have had them: enabled and subscribed, and existing
 * when the event happened (one created since never asked for it). A delivery for one endpoint goes to
 * that endpoint, paused or not (a redelivery's letter is dead again); the registry keeps none for an
 * endpoint since deleted.
 */
export async function consumeDeadWebhooks(batch: MessageBatch, env: Env) {
  const lastError = "The webhooks queue gave this delivery up after its retries";
  try {
    const endpoints = await registry(env).list();
    const records: DeadLetterRecord[] = [];
    for (const message of batch.messages) {
      const body = WebhookMessage.safeParse(message.body);
      if (!body.success) continue;
      if ("events" in body.data) {
        for (const event of body.data.events) {
          const checked = ShopEvent.safeParse(event);
          if (!checked.success) continue;
          const happened = Date.parse(checked.data.createdAt);
          for (const endpoint of endpoints) {
            if (!endpoint.enabled || Date.parse(endpoint.createdAt) > happened) continue;
            if (!subscribed(endpoint, checked.data.type)) continue;
            records.push({
              endpointId: endpoint.id,
              event: event as ShopEvent,
              attempts: 0,
              lastStatus: null,
              lastError,
              firstAttemptAt: message.timestamp.getTime(),
            });
          }
        }
        continue;
      }
      records.push(letterOf(body.data, lastError));
    }
    for (const run of runsBySize(
      records,
      (record) => bytesOf(JSON.stringify(record.event)),
      LETTER_BYTES,
      500,
    )) {
      await registry(env).recordDeadLetters(run);
    }
    logEvent("warn", "webhook messages dead-lettered by the queue", {
      messages: batch.messages.length,
      letters: records.length,
    });
    batch.ackAll();
  } catch (error) {
    logEvent("error", "dead webhook messages could not be recorded; will retry", { error: String(error) });
    batch.retryAll({ delaySeconds: 300 });
  }
}
