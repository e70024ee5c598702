import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { OutgoingEmail } from "../src/email/mail.store";
import { useEmailTransport } from "../src/email/transport";
import { shardOfOrder } from "../src/orders/shards";
import {
  type Accepted,
  admin,
  call,
  checkoutBody,
  postCheckout,
  settledOrder,
  settleShards,
  stockedSku,
  unique,
} from "./helpers";

type Email = OutgoingEmail & { status: string; attempts: number; messageId: string; sentAt: string | null };

const mailerOf = (orderId: string) => env.MAILER.getByName(`mail-${shardOfOrder(env, orderId) ?? 0}`);

/** Every email the mailer of this order keeps for it, through the admin API. */
async function emailsOf(orderId: string): Promise<Email[]> {
  const response = await admin("GET", `/v1/admin/emails?orderId=${encodeURIComponent(orderId)}&limit=200`);
  expect(response.status).toBe(200);
  return (await response.json<{ items: Email[] }>()).items;
}

/** Has the shards hand their outboxes on and the order's mailer send what is due, retries at once. */
async function deliverMail(orderId: string) {
  await settleShards();
  const mailer = mailerOf(orderId);
  await runInDurableObject(mailer, (_, state) => {
    state.storage.sql.exec("UPDATE emails SET due_at = 0 WHERE status IN ('queued', 'sending')");
  });
  await mailer.send();
}

async function paidOrder(name = "Ada Lovelace", email = `${unique("buyer")}@example.com`) {
  const sku = await stockedSku(5);
  const response = await postCheckout({ ...checkoutBody([{ sku, quantity: 1 }]), customer: { email, name } });
  expect(response.status).toBe(202);
  const accepted = await response.json<Accepted>();
  expect((await settledOrder(accepted.orderId, accepted.orderToken)).status).toBe("paid");
  return { accepted, email };
}

afterEach(() => useEmailTransport(null));

describe("the buyer's emails", () => {
  it("sends received and confirmed once each, escaped, with a link that opens the order anywhere", async () => {
    const { accepted, email } = await paidOrder('<img src=x onerror="alert(1)">');
    await deliverMail(accepted.orderId);
    await deliverMail(accepted.orderId);
    const emails = await emailsOf(accepted.orderId);
    expect(emails.map((sent) => sent.event).sort()).toEqual(["order.created", "order.paid"]);
    for (const sent of emails) expect(sent).toMatchObject({ to: email, status: "sent", attempts: 1 });

    const received = emails.find((sent) => sent.event === "order.created") as Email;
    expect(received.subject).toContain(accepted.orderId);
    expect(received.html).not.toContain("<img src=x");
    expect(received.html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(received.messageId).toBe(`<${received.id}@stampede.localhost>`);
    const link = /(http:\/\/localhost:8787\/orders\/[^\s#]+#token=([^\s]+))/.exec(received.text);
    expect(link?.[2]).toBe(encodeURIComponent(accepted.orderToken));
    // The link's token is the order's capability: it reads the order.
    const read = await call(`/v1/orders/${accepted.orderId}`, {
      headers: { Authorization: `Bearer ${decodeURIComponent(link?.[2] ?? "")}` },
    });
    expect(read.status).toBe(200);
    // The confirmation carries no token (the shard keeps only its hash).
    const paid = emails.find((sent) => sent.event === "order.paid") as Email;
    expect(paid.text).not.toContain("#token=");

    const inbox = await (await admin("GET", `/v1/admin/emails?to=${encodeURIComponent(email)}`)).json<{
      items: Email[];
    }>();
    expect(inbox.items).toHaveLength(2);
  });

  it("keeps an email handed over twice (or reordered) once, and sends it once", async () => {
    const { accepted } = await paidOrder();
    await deliverMail(accepted.orderId);
    const [first] = await emailsOf(accepted.orderId);
    const mailer = mailerOf(accepted.orderId);
    const again: OutgoingEmail = {
      id: first?.id ?? "",
      to: first?.to ?? "",
      from: first?.from ?? "",
      subject: first?.subject ?? "",
      text: first?.text ?? "",
      html: first?.html ?? "",
      orderId: accepted.orderId,
      event: first?.event ?? "",
    };
    expect(await mailer.take([again, again])).toBe(0);
    await deliverMail(accepted.orderId);
    const emails = await emailsOf(accepted.orderId);
    expect(emails.filter((sent) => sent.id === first?.id)).toEqual([
      expect.objectContaining({ status: "sent", attempts: 1 }),
    ]);
  });

  it("loses nothing and sends nothing twice while the mail service fails for a while; checkout never waits", async () => {
    const sends = new Map<string, number>();
    let failuresLeft = 5;
    useEmailTransport(async (_env, email) => {
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error("mail service 503");
      }
      sends.set(email.id, (sends.get(email.id) ?? 0) + 1);
    });
    const { accepted } = await paidOrder();
    const done = (emails: Email[]) => emails.length === 2 && emails.every((sent) => sent.status === "sent");
    for (let round = 0; round < 10 && !done(await emailsOf(accepted.orderId)); round++) {
      await deliverMail(accepted.orderId);
    }
    const emails = await emailsOf(accepted.orderId);
    expect(emails.map((sent) => sent.status)).toEqual(["sent", "sent"]);
    expect(emails.some((sent) => sent.attempts > 1)).toBe(true);
    expect([...sends.values()]).toEqual([1, 1]);
  });

  it("gives an email up after its retries, and sends it again when the operator asks", async () => {
    useEmailTransport(async () => {
      throw new Error("mail service refuses the sender");
    });
    const { accepted } = await paidOrder();
    await deliverMail(accepted.orderId);
    const mailer = mailerOf(accepted.orderId);
    await runInDurableObject(mailer, (_, state) => {
      state.storage.sql.exec("UPDATE emails SET attempts = 9 WHERE order_id = ?", accepted.orderId);
    });
    await deliverMail(accepted.orderId);
    const dead = await emailsOf(accepted.orderId);
    expect(dead.map((sent) => sent.status)).toEqual(["dead", "dead"]);

    const sent: string[] = [];
    useEmailTransport(async (_env, email) => {
      sent.push(email.id);
    });
    for (const letter of dead) {
      const response = await admin("POST", `/v1/admin/emails/${encodeURIComponent(letter.id)}/redeliver`);
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ queued: true });
    }
    await deliverMail(accepted.orderId);
    expect((await emailsOf(accepted.orderId)).map((e) => e.status)).toEqual(["sent", "sent"]);
    expect(sent.sort()).toEqual(dead.map((letter) => letter.id).sort());
    expect((await admin("POST", "/v1/admin/emails/3.nope/redeliver")).status).toBe(404);
  });
});
