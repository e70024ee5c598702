import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { EMAIL_PREVIEW_POLICY } from "../src/admin/email-preview.routes";
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

type Email = { id: string; orderId: string; event: string; html: string };

/** A paid order whose buyer's name is markup, and its emails once the mailer has them. */
async function emailsOfHostileOrder(): Promise<Email[]> {
  const sku = await stockedSku(5);
  const response = await postCheckout({
    ...checkoutBody([{ sku, quantity: 1 }]),
    customer: { email: `${unique("preview")}@example.com`, name: "<script>alert(1)</script>" },
  });
  const accepted = await response.json<Accepted>();
  expect((await settledOrder(accepted.orderId, accepted.orderToken)).status).toBe("paid");
  await settleShards();
  const listed = await admin("GET", `/v1/admin/emails?orderId=${encodeURIComponent(accepted.orderId)}`);
  const { items } = await listed.json<{ items: Email[] }>();
  expect(items.length).toBeGreaterThan(0);
  return items;
}

const preview = (id: string, fields: Record<string, string>) =>
  call(`/admin/emails/${encodeURIComponent(id)}/preview`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });

describe("the admin's preview of an email's HTML", () => {
  it("serves the stored HTML under a policy that runs no script and only the shop may frame", async () => {
    const [email] = (await emailsOfHostileOrder()) as [Email];
    const response = await preview(email.id, { token: env.ADMIN_TOKEN ?? "", orderId: email.orderId });
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(await response.text()).toBe(email.html);
    expect(email.html).not.toContain("<script>");
    const policy = response.headers.get("Content-Security-Policy") ?? "";
    expect(policy).toBe(EMAIL_PREVIEW_POLICY);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toMatch(/(^|; )sandbox($|;)/);
    expect(policy).not.toContain("script-src");
    expect(policy).toContain("frame-ancestors 'self'");
    // Its own policy stands: the shop's page policy (and X-Frame-Options DENY) is not laid over it.
    expect(response.headers.get("X-Frame-Options")).toBeNull();
    expect(response.headers.get("Cache-Control")).toBe("no-store");
  });

  it("shows nothing without the admin token, or with a wrong one", async () => {
    const [email] = (await emailsOfHostileOrder()) as [Email];
    for (const fields of [{}, { token: "not-the-token" }] as Record<string, string>[]) {
      const response = await preview(email.id, { ...fields, orderId: email.orderId });
      expect(response.status).toBe(401);
      expect(await response.text()).not.toContain(email.orderId);
    }
  });

  it("answers 404 for an email that does not exist", async () => {
    const response = await preview("0.nothing", { token: env.ADMIN_TOKEN ?? "" });
    expect(response.status).toBe(404);
  });

  it("lets only the admin's pages frame the shop's own pages", async () => {
    const frameSrc = async (path: string) => {
      const response = await call(path, { headers: { Accept: "text/html" } });
      const policy = response.headers.get("Content-Security-Policy") ?? "";
      return /frame-src ([^;]*)/.exec(policy)?.[1]?.split(" ") ?? [];
    };
    expect(await frameSrc("/admin/emails/0.x")).toContain("'self'");
    expect(await frameSrc("/admin")).toContain("'self'");
    expect(await frameSrc("/")).not.toContain("'self'");
    expect(await frameSrc("/cart")).not.toContain("'self'");
  });
});
