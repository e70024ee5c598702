import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { base64url } from "../shared/crypto";
import { RegistryStore } from "./endpoints.store";
import {
  DeadLetterIds,
  type DeadLetterRecord,
  DeadLetterRecords,
  ListDeadLettersArgs,
} from "./webhooks.args";
import {
  CreateEndpoint,
  type DeadLetter,
  DeadLetterId,
  type Endpoint,
  EndpointId,
  type EndpointWithSecret,
  type Subscriptions,
  UpdateEndpoint,
} from "./webhooks.schemas";

/** Every event goes to every endpoint subscribed to it, so their number is kept small. */
const MAX_ENDPOINTS = 16;
/** Dead letters are kept this long, then dropped, so a long-broken endpoint cannot fill the registry. */
const LETTER_RETENTION_MS = 30 * 86_400_000;
/**
 * A redelivery still "under way" after this long was lost (its message never came back with an
 * answer): it may be asked for again. Longer than the day a delivery's retries last.
 */
const REDELIVERY_STALE_MS = 25 * 3_600_000;

/** An endpoint as the consumer needs it: where, what, and the secrets to sign with (newest first). */
export type DeliveryTarget = { id: string; url: string; events: Subscriptions; secrets: string[] };

export type Redelivery =
  | { kind: "not_found" }
  | { kind: "endpoint_disabled" }
  | { kind: "under_way" | "start"; letter: DeadLetter };

/** `whsec_` and 256 random bits, base64url: the key of the HMAC over each delivery. */
function newSecret(): string {
  return `whsec_${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/**
 * The shop's webhook endpoints and the deliveries given up on. One object (by name) for the whole
 * shop: it is asked on admin changes, by each consumer isolate every few seconds (the consumer keeps
 * the list in memory), and when a delivery dies, never on checkout or payment.
 */
export class WebhookEndpoints extends DurableObject<Env> {
  readonly #store: RegistryStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new RegistryStore(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => this.#store.migrate());
  }

  create(input: CreateEndpoint): EndpointWithSecret | null {
    const args = CreateEndpoint.parse(input);
    if (this.#store.count() >= MAX_ENDPOINTS) return null;
    const secret = newSecret();
    const endpoint = this.#store.insert(
      {
        url: args.url,
        events: args.events,
        description: args.description ?? null,
        enabled: args.enabled,
        secret,
      },
      Date.now(),
    );
    return { ...endpoint, secret };
  }

  list(): Endpoint[] {
    return this.#store.views();
  }

  update(id: string, patch: UpdateEndpoint): Endpoint | null {
    return this.#store.update(EndpointId.parse(id), UpdateEndpoint.parse(patch), Date.now());
  }

  remove(id: string): boolean {
    const endpointId = EndpointId.parse(id);
    return this.ctx.storage.transactionSync(() => this.#store.remove(endpointId));
  }

  rotateSecret(id: string, graceSeconds: number): EndpointWithSecret | null {
    const endpointId = EndpointId.parse(id);
    const grace = z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .parse(graceSeconds);
    const now = Date.now();
    const secret = newSecret();
    const endpoint = this.#store.rotate(endpointId, secret, now + grace * 1000, now);
    return endpoint ? { ...endpoint, secret } : null;
  }

  /** The enabled endpoints, each with the secrets its deliveries are signed with now. */
  targets(): DeliveryTarget[] {
    const now = Date.now();
    return this.#store.enabledEndpoints().map((endpoint) => ({
      id: endpoint.id,
      url: endpoint.url,
      events: endpoint.events,
      secrets:
        endpoint.previousSecret && (endpoint.previousSecretUntil ?? 0) > now
          ? [endpoint.secret, endpoint.previousSecret]
          : [endpoint.secret],
    }));
  }

  /**
   * Deliveries given up on. A letter being redelivered that dies again goes back to `dead`. An
   * endpoint deleted meanwhile keeps no letters (nothing could deliver them).
   */
  recordDeadLetters(records: DeadLetterRecord[]) {
    const parsed = DeadLetterRecords.parse(records);
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.#store.purgeLetters(now - LETTER_RETENTION_MS, 500);
      this.#store.recordDead(
        parsed.filter((record) => this.#store.endpoint(record.endpointId) !== null),
        now,
      );
    });
  }

  deadLetters(args: ListDeadLettersArgs): DeadLetter[] {
    return this.#store.letters(ListDeadLettersArgs.parse(args));
  }

  /**
   * Claims a dead letter for redelivery. While one is under way, asking again starts nothing and
   * answers with the one going. A letter that is dead, or was already delivered again (the operator
   * replays it; receivers deduplicate by event id), starts a new one.
   */
  beginRedelivery(id: string): Redelivery {
    const letterId = DeadLetterId.parse(id);
    const now = Date.now();
    return this.ctx.storage.transactionSync((): Redelivery => {
      const letter = this.#store.letter(letterId);
      if (!letter) return { kind: "not_found" };
      if (!this.#store.endpoint(letter.endpointId)?.enabled) return { kind: "endpoint_disabled" };
      const since = letter.redeliveredAt ? Date.parse(letter.redeliveredAt) : 0;
      if (letter.state === "redelivering" && now - since < REDELIVERY_STALE_MS) {
        return { kind: "under_way", letter };
      }
      this.#store.setLetterState(letterId, "redelivering", now);
      return { kind: "start", letter: this.#store.letter(letterId) as DeadLetter };
    });
  }

  /**
   * Redeliveries that will not be made (their message could not be queued, or their endpoint was
   * paused before it went): each letter is dead again, to be asked for anew.
   */
  abandonRedeliveries(ids: string[]) {
    const letterIds = DeadLetterIds.parse(ids);
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const id of letterIds) {
        if (this.#store.letter(id)?.state === "redelivering") this.#store.setLetterState(id, "dead", now);
      }
    });
  }

  /** Redeliveries that went through. */
  redelivered(ids: string[]) {
    const letterIds = DeadLetterIds.parse(ids);
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const id of letterIds) {
        if (this.#store.letter(id)?.state === "redelivering")
          this.#store.setLetterState(id, "delivered", now);
      }
    });
  }
}
