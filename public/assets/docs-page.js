// /docs: the API reference, drawn by Scalar's renderer (vendor/scalar-api-reference.js, loaded
// before this file) from the worker's own /openapi.json. Everything it needs is served by the
// worker: no fonts, telemetry, proxy or AI features that would call another origin (the page's CSP
// allows none, and the reference must work offline). "Test Request" sends the call from this page to
// the server the document names, which is this shop.
const mount = document.getElementById("reference");

window.Scalar.createApiReference(mount, {
  url: mount.dataset.url,
  // Same-origin calls need no proxy; the default one is a third party's.
  proxyUrl: "",
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  showDeveloperTools: "never",
  hideClientButton: false,
  documentDownloadType: "json",
  defaultOpenAllTags: false,
  persistAuth: false,
  // Each operation states its own scheme (order token, drop ticket, admin token); none is pre-filled,
  // since the admin token of a deployment is a secret.
  authentication: { preferredSecurityScheme: null },
});
