import { settings } from "../shared/config";
import type { EmailStatus, OutgoingEmail, StoredEmail } from "./mail.store";
import type { Mailer } from "./mailer.do";

/**
 * The shop's mailers: one per order shard (`mail-<n>`), so an email's writes scale with the orders
 * that cause them. An email's id starts with its mailer's number (`<n>.<cause>`), so it is found again
 * without a search.
 */
function mailer(env: Env, n: number): DurableObjectStub<Mailer> {
  return env.MAILER.getByName(`mail-${n}`);
}

export function emailId(mailerNo: number, cause: string): string {
  return `${mailerNo}.${cause}`;
}

function mailerOf(env: Env, id: string): DurableObjectStub<Mailer> | null {
  const n = Number(/^(\d{1,4})\./.exec(id)?.[1] ?? Number.NaN);
  return Number.isInteger(n) && n < settings(env).orderShards ? mailer(env, n) : null;
}

/** Hands emails to their mailer (every one of `emails` to mailer `n`); answers how many were new. */
export function handOver(env: Env, n: number, emails: OutgoingEmail[]): Promise<number> {
  return mailer(env, n).take(emails);
}

/** Emails the shop sent or will send, newest first, over every mailer. */
export async function listEmails(
  env: Env,
  filter: { to?: string; orderId?: string; status?: EmailStatus; limit: number },
): Promise<StoredEmail[]> {
  const shards = settings(env).orderShards;
  const pages = await Promise.all(
    Array.from({ length: shards }, (_, n) => mailer(env, n).list(filter) as Promise<StoredEmail[]>),
  );
  return pages
    .flat()
    .sort((a, b) =>
      a.createdAt === b.createdAt ? b.id.localeCompare(a.id) : b.createdAt.localeCompare(a.createdAt),
    )
    .slice(0, filter.limit);
}

/** Sends a dead email again: "not_found", or whether it was dead (false: it is sent or on its way). */
export async function redeliverEmail(env: Env, id: string): Promise<"not_found" | "queued" | "not_dead"> {
  const stub = mailerOf(env, id);
  if (!stub || !(await stub.get(id))) return "not_found";
  return (await stub.redeliver(id)) ? "queued" : "not_dead";
}
