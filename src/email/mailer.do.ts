import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { logEvent } from "../shared/log";
import { withTimeout } from "../shared/timeout";
import { type EmailStatus, MailStore, type OutgoingEmail, type StoredEmail } from "./mail.store";
import { sendEmail } from "./transport";

/** A send that has not answered by then is taken as lost, and made again (same Message-ID). */
const SEND_LEASE_MS = 60_000;
/** Retries back off from 2 s, doubling, up to 30 minutes; after this many the email is dead. */
const MAX_ATTEMPTS = 10;
const BACKOFF_BASE_MS = 2000;
const BACKOFF_CAP_MS = 30 * 60_000;
/** Emails sent at once per alarm run; the rest follow at once in the next. */
const SEND_BATCH = 50;
/** Sent (and given-up) emails are kept this long for the operator, then dropped. */
const RETENTION_MS = 30 * 86_400_000;

const Email = z
  .object({
    id: z.string().min(1).max(100),
    to: z.email().max(254),
    from: z.string().min(3).max(320),
    replyTo: z.string().min(3).max(320).optional(),
    subject: z.string().min(1).max(300),
    text: z.string().max(100_000),
    html: z.string().max(200_000),
    orderId: z.string().min(1).max(64),
    event: z.string().min(1).max(64),
  })
  .strict();
/** Emails one hand-over may carry. */
const MAX_TAKE = 500;
/** A send that takes longer is abandoned (and taken as lost: made again after the lease). */
const SEND_TIMEOUT_MS = 30_000;

const ListArgs = z
  .object({
    to: z.string().max(254).optional(),
    orderId: z.string().max(64).optional(),
    status: z.enum(["queued", "sending", "sent", "dead"]).optional(),
    limit: z.number().int().min(1).max(200),
  })
  .strict();

/**
 * One of the shop's mailers: it keeps every email it is handed (each once, by id) and sends it through
 * the mail service from its own alarm, retrying with backoff; an email that fails every time is kept
 * `dead` for the operator to send again. Checkout and payment never wait on it: an order shard hands
 * emails over from its outbox, and a mail service that fails only delays them. Kept emails are the
 * shop's sent mail (locally, its inbox).
 *
 * At most once per email, as far as a send can be: an email is marked `sending` before the call and
 * `sent` after it; only a send whose answer is lost (the object stopped, or no answer within the
 * lease) is made again, with the same Message-ID, which mail clients show as one message.
 */
export class Mailer extends DurableObject<Env> {
  readonly #store: MailStore;
  #running: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new MailStore(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => {
      this.#store.migrate();
      await this.#arm();
    });
  }

  /** Keeps the emails not kept before and has them sent; answers how many were new. */
  async take(emails: OutgoingEmail[]): Promise<number> {
    // One malformed email is dropped (and logged), never the hand-over: the others must go.
    const valid = z
      .array(z.unknown())
      .max(MAX_TAKE)
      .parse(emails)
      .flatMap((email) => {
        const checked = Email.safeParse(email);
        if (checked.success) return [checked.data];
        logEvent("error", "a malformed email was dropped", { issues: checked.error.issues.slice(0, 3) });
        return [];
      });
    const added = this.#store.add(valid, Date.now());
    if (added > 0) await this.#arm();
    return added;
  }

  list(args: z.input<typeof ListArgs>): StoredEmail[] {
    return this.#store.list(ListArgs.parse(args));
  }

  get(id: string): StoredEmail | null {
    return this.#store.get(z.string().min(1).max(100).parse(id));
  }

  /** Sends a dead email again; answers whether it was dead. */
  async redeliver(id: string): Promise<boolean> {
    const again = this.#store.redeliver(z.string().min(1).max(100).parse(id), Date.now());
    if (again) await this.#arm();
    return again;
  }

  counts(): Record<EmailStatus, number> {
    return this.#store.counts();
  }

  /** Sends what is due now (the alarm comes here; tests may too). */
  send(): Promise<void> {
    this.#running ??= this.#sendDue().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  override async alarm() {
    await this.send();
    this.#store.prune(Date.now() - RETENTION_MS, 500);
    await this.#arm();
  }

  async #arm() {
    const next = this.#store.nextDue();
    if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, Date.now()));
  }

  async #sendDue() {
    for (;;) {
      const now = Date.now();
      const due = this.#store.due(now, SEND_BATCH);
      if (due.length === 0) return;
      this.ctx.storage.transactionSync(() => {
        for (const email of due) this.#store.sending(email.id, now + SEND_LEASE_MS);
      });
      await Promise.all(due.map((email) => this.#sendOne(email)));
      if (due.length < SEND_BATCH) return;
    }
  }

  async #sendOne(email: StoredEmail) {
    try {
      await withTimeout(sendEmail(this.env, email), SEND_TIMEOUT_MS, "the mail service did not answer");
      this.#store.sent(email.id, Date.now());
    } catch (error) {
      const attempts = email.attempts + 1;
      const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1));
      const dueAt =
        attempts >= MAX_ATTEMPTS ? null : Date.now() + Math.round(step / 2 + (Math.random() * step) / 2);
      this.#store.failed(email.id, String(error), dueAt);
      logEvent(
        dueAt === null ? "error" : "info",
        dueAt === null ? "email given up" : "email not sent; will retry",
        {
          emailId: email.id,
          orderId: email.orderId,
          event: email.event,
          attempts,
          error: String(error),
        },
      );
    }
  }
}
