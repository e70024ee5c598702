/**
 * /docs: the shell of the API reference. Scalar's renderer (public/assets/vendor, served as a static
 * asset, so the page works offline) draws it in the browser from /openapi.json: each operation with
 * the security scheme the document gives it, schemas as expandable models, and a request client that
 * calls this shop.
 */
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/**
 * The page's own Content-Security-Policy, in place of the shop's. Scripts stay as strict as anywhere
 * (files from this origin only, nothing inline, no third party: the reference needs neither Stripe
 * nor Turnstile), and the page may call only this origin. Styles are the one loosening: the renderer
 * (Vue, its toasts and its code editor) writes style attributes and inserts `<style>` elements that
 * carry no nonce, and with a nonce in the policy a browser ignores 'unsafe-inline'. That is safe
 * here because the page shows nothing but the shop's own OpenAPI document (no text a buyer typed),
 * and a style cannot run code.
 */
export const DOCS_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export function renderDocs(title: string): string {
  const name = escapeHtml(title);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${name} API reference</title><link rel="icon" href="/favicon.svg" type="image/svg+xml">
<script src="/assets/vendor/scalar-api-reference.js" defer></script>
<script src="/assets/docs-page.js" defer></script>
</head><body><div id="reference" data-url="/openapi.json"></div>
<noscript><p>${name}'s API reference is drawn by a script. The document itself is
<a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p></noscript></body></html>`;
}
