// The storefront paying (and a draw's entry authorized) through Stripe: a second instance pointed at
// the local fake of Stripe's API, with a stand-in for Stripe.js served in place of js.stripe.com.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startFakeStripe } from "../fakes/stripe-api.mjs";
import { drawProduct, fillBuyer, newPage, PORT, startService, useBrowser } from "./harness.mjs";

useBrowser();

/**
 * Stripe.js as the storefront uses it, without the network: the Payment Element mounts a field, a
 * ConfirmationToken names a card that asks for 3-D Secure, and `handleNextAction` passes the
 * challenge at the local fake of Stripe's API (through the test, as the buyer's bank would).
 */
const FAKE_STRIPE_JS = `
window.Stripe = (key) => ({
  key,
  elements: () => ({
    create: () => ({
      mount: (node) => {
        const field = document.createElement("input");
        field.setAttribute("data-testid", "fake-card-field");
        field.value = "4000 0027 6000 3184";
        node.append(field);
      },
    }),
    submit: async () => ({}),
    // The checkout tells the Payment Element the total to confirm as its quote changes.
    update: ({ amount }) => {
      window.stripeAmount = amount;
    },
  }),
  createConfirmationToken: async () => ({ confirmationToken: { id: "ctoken_card_threeDSecure2Required" } }),
  handleNextAction: async ({ clientSecret }) => {
    await window.passChallenge(clientSecret.split("_secret_")[0]);
    return { paymentIntent: { status: "succeeded" } };
  },
});`;

describe("storefront with Stripe", () => {
  const port = PORT + 1;
  let stripe;
  let service;
  before(async () => {
    stripe = await startFakeStripe();
    service = await startService(
      port,
      [
        "PAYMENT_PROVIDER=stripe",
        "STRIPE_SECRET_KEY=sk_test_fake",
        "STRIPE_PUBLISHABLE_KEY=pk_test_fake",
        `STRIPE_API_BASE=${stripe.url}`,
        "PAYMENT_GATEWAY_RPS=0",
      ].join(","),
    );
  });
  after(async () => {
    if (service) process.kill(-service.pid, "SIGTERM");
    await stripe?.close();
  });

  const base = `http://localhost:${port}`;

  /** A page whose Stripe.js is the stand-in, the bank's challenge passed at the fake when asked. */
  async function stripePage(name) {
    const page = await newPage(name);
    page.loadedStripeJs = false;
    await page.route("https://js.stripe.com/v3/", (route) => {
      page.loadedStripeJs = true;
      return route.fulfill({ contentType: "text/javascript", body: FAKE_STRIPE_JS });
    });
    await page.exposeFunction("passChallenge", async (intentId) => {
      const response = await fetch(`${stripe.url}/_fake/payment_intents/${intentId}/authenticate`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ result: "pass" }),
      });
      assert.equal(response.status, 200);
    });
    return page;
  }

  it("takes the card with Stripe Elements, completes 3-D Secure with Stripe.js and shows the order paid", async () => {
    const page = await stripePage("stripe-3ds");
    await page.goto(`${base}/products/classic-tee`);
    await page.getByTestId("add-to-cart").click();
    await page.goto(`${base}/cart`);
    await page.getByTestId("fake-card-field").waitFor();
    assert.equal(await page.getByLabel("Payment (test card)").count(), 0, "no test cards with Stripe");
    await page.getByTestId("checkout-email").fill("card@example.com");
    await page.shot();
    await fillBuyer(page);
    await page.getByTestId("place-order").click();
    await page.waitForURL(/\/orders\//);
    // The page completes the challenge by itself, asks the shop to check, and the order is paid:
    // no webhook reaches this shop.
    await page.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 30_000 });
    assert.ok(page.loadedStripeJs);
    await page.shot();
  });

  it("enters a draw with the card from Stripe Elements, its authorization confirmed with Stripe.js", async () => {
    const slug = `stripe-draw-${Date.now()}`;
    await drawProduct({ slug, title: "Stripe Draw", price: 12500, onHand: 2 }, base);
    const page = await stripePage("stripe-draw");
    await page.goto(`${base}/products/${slug}`);
    await page.getByTestId("fake-card-field").waitFor();
    assert.equal(await page.getByLabel("Payment (test card)").count(), 0, "no test cards with Stripe");
    await page.getByTestId("draw-email").fill("stripe-draw@example.com");
    await page.getByTestId("draw-enter").click();
    await page
      .getByTestId("draw-entry")
      .and(page.locator("[data-state=entered]"))
      .waitFor({ timeout: 30_000 });
    assert.match(await page.getByTestId("draw-entry-state").textContent(), /\$125\.00 is authorized/);
    await page.shot();
  });
});
