// A local fake of Cloudflare Turnstile's siteverify endpoint, for tests without network. Like the
// real one, a token verifies once: a second use answers `timeout-or-duplicate`. Tokens starting
// with "pass" verify; anything else is `invalid-input-response`; a wrong secret is
// `invalid-input-secret`. A verified token was made on `hostname` for the action "join", unless it
// starts with "pass-elsewhere" (made on another site) or "pass-login" (for another action).
import { createServer } from "node:http";

export const TURNSTILE_TEST_SECRET = "turnstile-test-secret";

export async function startFakeTurnstile({ hostname = "shop.example" } = {}) {
  const used = new Set();
  const server = createServer(async (request, response) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const token = form.get("response") ?? "";
    let answer = {
      success: true,
      "error-codes": [],
      hostname: token.startsWith("pass-elsewhere") ? "elsewhere.example" : hostname,
      action: token.startsWith("pass-login") ? "login" : "join",
    };
    if (request.method !== "POST" || !request.url?.endsWith("/siteverify")) {
      response.writeHead(404).end();
      return;
    }
    if (form.get("secret") !== TURNSTILE_TEST_SECRET)
      answer = { success: false, "error-codes": ["invalid-input-secret"] };
    else if (!token.startsWith("pass"))
      answer = { success: false, "error-codes": ["invalid-input-response"] };
    else if (used.has(token)) answer = { success: false, "error-codes": ["timeout-or-duplicate"] };
    else used.add(token);
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(JSON.stringify(answer));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref();
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/turnstile/v0/siteverify`,
    close: () => new Promise((r) => server.close(r)),
  };
}
