import type { OutgoingEmail } from "./mail.store";
import { messageIdOf } from "./mail.store";

/**
 * How a mailer hands an email to the mail service: Cloudflare Email Service through the `send_email`
 * binding (`env.EMAIL`), with the email's stable Message-ID, so a send repeated after a lost answer
 * is the same message to every receiver. Tests put a transport of their own in front (a service that
 * fails for a while) with `useEmailTransport`.
 */
type EmailTransport = (env: Env, email: OutgoingEmail) => Promise<void>;

const viaBinding: EmailTransport = async (env, email) => {
  // Locally (EMAIL_DELIVERY = "keep") the mailer's own store is the inbox: nothing is handed on.
  if (env.EMAIL_DELIVERY === "keep") return;
  await env.EMAIL.send({
    from: email.from,
    to: email.to,
    subject: email.subject,
    text: email.text,
    html: email.html,
    ...(email.replyTo ? { replyTo: email.replyTo } : {}),
    headers: { "Message-ID": messageIdOf(email), "X-Stampede-Event": email.event },
  });
};

let current: EmailTransport = viaBinding;

/** Sends through `transport` from now on in this isolate (null: the binding again). */
export function useEmailTransport(transport: EmailTransport | null) {
  current = transport ?? viaBinding;
}

export function sendEmail(env: Env, email: OutgoingEmail): Promise<void> {
  return current(env, email);
}
