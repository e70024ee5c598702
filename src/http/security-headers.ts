import { createMiddleware } from "hono/factory";

/** The nonce a page puts on an inline `<script>` or `<style>` it cannot move to /assets. */
export type SecurityHeadersVariables = {
  cspNonce: string;
  /** Set by a page that frames the shop's own pages (the admin's email preview). */
  framesSelf?: boolean;
};

export type SecurityHeadersOptions = {
  /** Origins a page may load scripts from besides its own: Stripe.js and Turnstile by default. */
  scriptSources?: string[];
  /** Origins a page may frame: Stripe's card form and 3-D Secure, Turnstile's widget. */
  frameSources?: string[];
  /** Origins a page's scripts may call besides its own: Stripe's API (Stripe.js). */
  connectSources?: string[];
  /** Where pictures may come from: a product's images are any https URL its admin gave. */
  imageSources?: string[];
  /** The referrer policy of a page that sets none itself. */
  referrerPolicy?: string;
};

const STRIPE = ["https://js.stripe.com", "https://*.js.stripe.com"];
const TURNSTILE = "https://challenges.cloudflare.com";

const DEFAULTS: Required<SecurityHeadersOptions> = {
  scriptSources: [...STRIPE, TURNSTILE],
  frameSources: [...STRIPE, "https://hooks.stripe.com", TURNSTILE],
  connectSources: ["https://api.stripe.com"],
  imageSources: ["https:", "data:"],
  referrerPolicy: "strict-origin-when-cross-origin",
};

const NOSNIFF = "X-Content-Type-Options";

/** What every answer carries, the routed ones and those given before routing alike. */
export function setBaseHeaders(headers: Headers) {
  headers.set(NOSNIFF, "nosniff");
}

/** A nonce per page: 16 random bytes, base64 (what CSP's nonce-source expects). */
function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

function contentSecurityPolicy(
  options: Required<SecurityHeadersOptions>,
  nonce: string,
  framesSelf: boolean,
): string {
  const self = "'self'";
  const nonced = `'nonce-${nonce}'`;
  return [
    `default-src ${self}`,
    `script-src ${self} ${nonced} ${options.scriptSources.join(" ")}`,
    `style-src ${self} ${nonced}`,
    `img-src ${self} ${options.imageSources.join(" ")}`,
    `connect-src ${self} ${options.connectSources.join(" ")}`,
    `frame-src ${[...(framesSelf ? [self] : []), ...options.frameSources].join(" ")}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * `nosniff` on every answer; on an HTML answer also a Content-Security-Policy that allows what the
 * pages load (their own origin, Stripe.js and its frames, Turnstile) and nothing inline without the
 * request's nonce, no framing by anyone (a page that sets its own policy keeps it), and a referrer policy (a page may set a stricter one, as
 * the 3-D Secure challenge does: its URL is a capability).
 */
export function securityHeaders(options: SecurityHeadersOptions = {}) {
  const settled = { ...DEFAULTS, ...options };
  return createMiddleware<{ Variables: SecurityHeadersVariables }>(
    async function securityHeadersMiddleware(c, next) {
      const nonce = newNonce();
      c.set("cspNonce", nonce);
      await next();
      c.header(NOSNIFF, "nosniff");
      if (!(c.res.headers.get("Content-Type") ?? "").startsWith("text/html")) return;
      // A route that set its own policy (a page meant to be framed by the shop) keeps it, and its
      // frame-ancestors stands in for X-Frame-Options.
      if (c.res.headers.has("Content-Security-Policy")) return;
      c.header(
        "Content-Security-Policy",
        contentSecurityPolicy(settled, nonce, c.get("framesSelf") === true),
      );
      c.header("X-Frame-Options", "DENY");
      if (!c.res.headers.has("Referrer-Policy")) c.header("Referrer-Policy", settled.referrerPolicy);
    },
  );
}
