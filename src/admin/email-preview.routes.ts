import { Hono } from "hono";
import { listEmails } from "../email/email.service";
import { secretsEqual } from "../http/admin-auth";
import type { AppEnv } from "../http/app-env";

/**
 * The policy an email's HTML is shown under. The HTML is built from buyer input: it runs no
 * script, loads nothing but pictures, submits nothing, and is a sandbox of its own (an opaque
 * origin); only the shop's own pages may frame it.
 */
export const EMAIL_PREVIEW_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox";

/**
 * /admin/emails/:id/preview: one stored email's HTML, for the frame of the admin's email screen.
 * A frame cannot send an Authorization header, so the screen posts the admin token in a form body
 * (never in a URL, where it would be logged); without it, nothing is shown.
 */
export const emailPreviewRoutes = new Hono<AppEnv>().post("/admin/emails/:id/preview", async (c) => {
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
  c.header("Content-Security-Policy", EMAIL_PREVIEW_POLICY);
  const form = await c.req.parseBody();
  const token = typeof form.token === "string" ? form.token : "";
  const orderId = typeof form.orderId === "string" ? form.orderId.slice(0, 64) : "";
  const expected = c.env.ADMIN_TOKEN;
  if (!expected || !token || !(await secretsEqual(token, expected))) {
    return c.text("A valid admin token is required.", 401);
  }
  const id = c.req.param("id");
  const emails = await listEmails(c.env, { ...(orderId ? { orderId } : {}), limit: 200 });
  const email = emails.find((entry) => entry.id === id);
  if (!email) return c.text("No such email.", 404);
  return c.html(email.html);
});
