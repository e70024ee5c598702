// The API reference at /docs in a real browser: Scalar's renderer, served by the worker itself, under
// the page's own Content-Security-Policy (any violation fails the test, see harness.mjs).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { BASE, newPage, startService, stopService, useBrowser } from "./harness.mjs";

let server;
before(async () => {
  server = await startService();
});
after(() => stopService(server));
useBrowser();

/** A paid order of the demo catalog, placed over HTTP as any integrator would. */
async function placeOrder() {
  const response = await fetch(`${BASE}/v1/checkout`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": randomUUID() },
    body: JSON.stringify({
      items: [{ sku: "APP-01-1", quantity: 1 }],
      customer: { email: "reader@example.com", name: "Doc Reader" },
      shippingAddress: {
        name: "Doc Reader",
        line1: "1 Market Street",
        city: "Springfield",
        postalCode: "12345",
        country: "US",
      },
      payment: { token: "tok_ok" },
    }),
  });
  assert.equal(response.status, 202, await response.clone().text());
  return response.json();
}

/**
 * The renderer's copy of zod probes once whether it may compile validators (`Function("")` in a
 * try/catch); the page's policy refuses, and zod validates without compiling, as it does on Workers.
 */
const ZOD_PROBE = { refused: [/script-src refused eval on /, /Evaluating a string as JavaScript violates/] };

describe("API reference", () => {
  it("shows each call's own credential: the order token, the drop ticket, the admin token", async () => {
    const page = await newPage("docs-credentials", ZOD_PROBE);
    const cases = [
      [
        "orders/GET/v1/orders/{id}",
        "An order, for the holder of its token",
        "orderToken",
        "returned by checkout",
      ],
      ["drops/GET/v1/drops/{product}/status", "Where a ticket stands", "dropTicket", "The ticket from POST"],
      ["admin/GET/v1/admin/orders/{id}", "An order with everything about it", "adminToken", "ADMIN_TOKEN"],
    ];
    for (const [anchor, title, scheme, description] of cases) {
      await page.goto(`${BASE}/docs#tag/${anchor}`);
      const heading = page.getByRole("heading", { name: title });
      await heading.waitFor();
      const section = page.locator("section", { has: heading }).first();
      await section.getByText("Auth Required").first().hover();
      const explained = page.getByText(description).filter({ visible: true }).first();
      await explained.waitFor();
      // The hover card lists the schemes the call takes, one item each.
      const shown = await explained.locator("xpath=ancestor::ul[1]").textContent();
      assert.match(shown, new RegExp(`${scheme}\\s*HTTP bearer`), `${anchor} shows ${scheme}`);
      for (const other of ["orderToken", "dropTicket", "adminToken"].filter((name) => name !== scheme))
        assert.doesNotMatch(shown, new RegExp(other), `${anchor} does not show ${other}`);
      await page.mouse.move(0, 0);
    }
  });

  it("tries GET /v1/orders/{id} from the page with the order's token and shows the order", async () => {
    const { orderId, orderToken } = await placeOrder();
    const page = await newPage("docs-try-order", ZOD_PROBE);
    await page.goto(`${BASE}/docs#tag/orders/GET/v1/orders/{id}`);
    await page.getByRole("button", { name: "Test Request" }).first().click();
    const client = page.getByRole("dialog");
    await client.getByText("Authentication").first().click();
    assert.match(
      await client
        .getByText(/Selected Auth Type:/)
        .first()
        .textContent(),
      /orderToken/,
    );
    await client.getByLabel("Bearer Token").fill(orderToken, { timeout: 5000 });
    await client.locator('tr#id [aria-label=" Value"]').fill(orderId, { timeout: 5000 });
    const answered = page.waitForResponse((response) => response.url().endsWith(`/v1/orders/${orderId}`));
    await client
      .getByRole("button", { name: /Send get request to/ })
      .filter({ visible: true })
      .click({ timeout: 5000 });
    const response = await answered;
    assert.equal(response.status(), 200);
    assert.equal(response.request().headers().authorization, `Bearer ${orderToken}`);
    // The answer is shown in the client's response pane.
    await client.getByText("200 OK").first().waitFor();
    await client.getByText(`"${orderId}"`).first().waitFor();
    await page.screenshot({ path: "test/screenshots/docs-try-order.png" });
  });
});
