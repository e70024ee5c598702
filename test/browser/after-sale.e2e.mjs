// The day after the sale, in Chromium: a shopper buys with an address; the operator, in /admin,
// finds the order by email and ships it with tracking, refunds one line of a second order with
// restock and cancels a third (paid). Then the proof: each buyer email once in the local inbox,
// the same events on a webhook receiver, stock and money that agree.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";
import { adminClient } from "../../loadtest/lib/api.mjs";
import { audit, auditLine, baseline } from "../../loadtest/lib/audit.mjs";
import {
  ADMIN,
  adminCall,
  BASE,
  fillBuyer,
  newPage,
  startService,
  stopService,
  useBrowser,
} from "./harness.mjs";

const PHONE = { width: 390, height: 844 };
const run = Date.now().toString(36).toUpperCase();
const SKU_A = `AFTER-${run}-A`;
const SKU_B = `AFTER-${run}-B`;
const STOCK = 20;

/** A local webhook receiver: every delivery, its signature checked against the endpoint's secret. */
function receiver() {
  const deliveries = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      deliveries.push({ body, signature: String(request.headers["stampede-signature"] ?? "") });
      response.writeHead(204).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, deliveries, port: server.address().port })),
  );
}

const signedBy = (secret, { body, signature }) => {
  const t = /t=(\d+)/.exec(signature)?.[1];
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return [...signature.matchAll(/v1=([0-9a-f]+)/g)].some(
    ([, hex]) => hex.length === expected.length * 2 && timingSafeEqual(Buffer.from(hex, "hex"), expected),
  );
};

async function until(what, check, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const address = (name) => ({
  name,
  line1: "5 Harbour Road",
  city: "Portsmouth",
  postalCode: "PO1 3AX",
  country: "GB",
});

/** An order placed through the API, as another shopper's browser would, paid by the simulator. */
async function apiOrder(email, items) {
  const response = await fetch(`${BASE}/v1/checkout`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify({
      items,
      customer: { email, name: "Grace Buyer" },
      shippingAddress: address("Grace Buyer"),
      payment: { token: "tok_ok" },
    }),
  });
  assert.equal(response.status, 202, await response.clone().text());
  const { orderId } = await response.json();
  await until(`order ${orderId} paid`, async () => (await adminOrder(orderId)).status === "paid");
  return orderId;
}

const adminOrder = (id) => adminCall("GET", `/v1/admin/orders/${encodeURIComponent(id)}`);

/** No part of the page is wider than a phone. */
async function fitsPhone(page) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  const wide = await page.evaluate(
    (limit) =>
      [...document.querySelectorAll("body *")]
        .filter((node) => node.getBoundingClientRect().right > limit && !node.closest(".table-scroll > *"))
        .slice(0, 5)
        .map((node) => `${node.tagName.toLowerCase()}.${node.className}[${node.dataset.testid ?? ""}]`),
    PHONE.width,
  );
  assert.ok(width <= PHONE.width, `the page is ${width} px wide at ${PHONE.width} px: ${wide.join(", ")}`);
}

let server;
let hook;
/** What the cancelled order left in the inbox and on the receiver, for the test that follows it. */
let cancelled;
before(async () => {
  hook = await receiver();
  // The emails' links point at this run's shop.
  server = await startService(undefined, `SHOP_URL=${BASE}`);
});
after(() => {
  stopService(server);
  hook?.server.close();
});
useBrowser();

describe("the day after the sale", () => {
  it("ships, refunds and cancels from /admin; the buyer is told once each; stock and money agree", async () => {
    const api = adminClient(BASE, ADMIN);
    const endpoint = await adminCall("POST", "/v1/admin/webhooks/endpoints", {
      url: `http://127.0.0.1:${hook.port}/hooks`,
      events: ["*"],
      description: "Day-after receiver",
    });
    const slug = `after-sale-${run.toLowerCase()}`;
    await adminCall("POST", "/v1/admin/products", {
      slug,
      title: "Harbour Jacket",
      category: "apparel",
      variants: [
        { sku: SKU_A, title: "Navy", price: { amount: 8900, currency: "USD" } },
        { sku: SKU_B, title: "Sand", price: { amount: 8900, currency: "USD" } },
      ],
    });
    for (const sku of [SKU_A, SKU_B]) await adminCall("PUT", `/v1/admin/inventory/${sku}`, { onHand: STOCK });
    const books = await baseline(api, [SKU_A, SKU_B]);
    const before = {};
    for (const sku of [SKU_A, SKU_B]) before[sku] = await api.inventory(sku);

    // The shopper, on a phone: the checkout asks for a name and an address.
    const shopper = await newPage("after-sale-checkout");
    await shopper.setViewportSize(PHONE);
    await shopper.goto(`${BASE}/products/${slug}`);
    await shopper
      .getByTestId("availability")
      .filter({ hasText: /In stock|Low stock/ })
      .waitFor();
    await shopper.getByTestId("add-to-cart").click();
    await shopper.goto(`${BASE}/cart`);
    await shopper.getByTestId("shipping-address").waitFor();
    const email1 = `ship-${run.toLowerCase()}@example.com`;
    await shopper.getByTestId("checkout-email").fill(email1);
    await fillBuyer(shopper, {
      name: "Ada <b>Shopper</b>",
      line1: "1 Quay Street",
      city: "Bristol",
      postalCode: "BS1 4DJ",
      country: "gb",
    });
    await shopper.getByLabel("Payment (test card)").selectOption("tok_ok");
    await fitsPhone(shopper);
    await shopper.screenshot({ path: "test/screenshots/after-sale-checkout-390.png", fullPage: true });
    await shopper.getByTestId("place-order").click();
    await shopper.waitForURL(/\/orders\//);
    await shopper.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
    await shopper.getByTestId("order-address").filter({ hasText: "1 Quay Street" }).waitFor();
    const order1 = decodeURIComponent(new URL(shopper.url()).pathname.split("/")[2]);
    const placed = await adminOrder(order1);
    assert.equal(placed.customer.name, "Ada <b>Shopper</b>");
    assert.deepEqual(placed.shippingAddress, {
      name: "Ada <b>Shopper</b>",
      line1: "1 Quay Street",
      city: "Bristol",
      postalCode: "BS1 4DJ",
      country: "GB",
    });

    const email2 = `refund-${run.toLowerCase()}@example.com`;
    const email3 = `cancel-${run.toLowerCase()}@example.com`;
    const order2 = await apiOrder(email2, [
      { sku: SKU_A, quantity: 1 },
      { sku: SKU_B, quantity: 1 },
    ]);
    const order3 = await apiOrder(email3, [{ sku: SKU_A, quantity: 1 }]);

    // The operator, on a phone too: signs in, finds the first order by its buyer's email.
    const ops = await newPage("after-sale-admin");
    await ops.setViewportSize(PHONE);
    await ops.goto(`${BASE}/admin/orders`);
    await ops.getByTestId("admin-token").fill(ADMIN);
    await ops.getByTestId("admin-sign-in").click();
    await ops.getByTestId("search-q").fill(email1);
    await ops.getByTestId("search-orders").click();
    await ops.getByTestId("order-link").filter({ hasText: order1 }).click();
    await ops.waitForURL(`${BASE}/admin/orders/${order1}`);
    await ops.getByTestId("order-address").filter({ hasText: "1 Quay Street" }).waitFor();
    // The buyer's name is text, never markup.
    assert.equal(await ops.locator("#app b").count(), 0);

    await ops.getByTestId("fulfil-carrier").fill("Royal Mail");
    await ops.getByTestId("fulfil-number").fill(`RM${run}GB`);
    await ops.getByTestId("fulfil-url").fill(`https://track.example/parcels/RM${run}GB`);
    await ops.getByTestId("fulfil-submit").click();
    const tracking = ops.getByTestId("order-fulfillments").getByRole("link", { name: `RM${run}GB` });
    await tracking.waitFor();
    assert.equal(await tracking.getAttribute("href"), `https://track.example/parcels/RM${run}GB`);
    assert.match(await ops.locator("[data-fact=Fulfilment]").textContent(), /^fulfilled$/);
    await ops.getByTestId("order-emails").waitFor();
    assert.equal(
      await ops.locator('.outcome[data-tone="error"]').count(),
      0,
      "every part of the order loaded",
    );
    await fitsPhone(ops);
    await ops.screenshot({ path: "test/screenshots/after-sale-admin-order-390.png", fullPage: true });

    // The second order: one line refunded, its unit back in stock, after a confirmation.
    await ops.goto(`${BASE}/admin/orders/${order2}`);
    await ops.locator(`[data-testid=refund-qty][data-sku="${SKU_B}"]`).fill("1");
    await ops.getByTestId("refund-restock").check();
    await ops.getByTestId("refund-reason").fill("Wrong colour");
    await ops.getByTestId("refund-submit").click();
    await ops.getByTestId("confirm").filter({ hasText: "cannot be undone" }).waitFor();
    assert.equal((await adminOrder(order2)).refunds.length, 0, "nothing is refunded before the confirmation");
    await ops.getByTestId("confirm-yes").click();
    await ops.getByTestId("order-refunds").filter({ hasText: SKU_B }).waitFor();
    const refunded = await until("the refund made and restocked", async () => {
      const order = await adminOrder(order2);
      return order.refunds[0]?.status === "succeeded" && order.refunds[0].restocked ? order : null;
    });
    assert.deepEqual(
      refunded.refunds.map((r) => [r.amount.amount, r.lines]),
      [[8900, [{ sku: SKU_B, quantity: 1 }]]],
    );

    // The third: cancelled although paid (refunded in full, every unit back).
    await ops.goto(`${BASE}/admin/orders/${order3}`);
    await ops.getByTestId("cancel-order").click();
    await ops.getByTestId("confirm-yes").click();
    await ops.locator("[data-fact=Cancelled]").filter({ hasText: "refunded in full" }).waitFor();
    assert.equal(await ops.getByTestId("cancel-order").count(), 0, "cancelled once: no second cancel");
    await fitsPhone(ops);

    // The buyer's emails: each once per order and event, in the local inbox. A cancel's refund is
    // told in the cancel's own email; its webhook event is sent like any refund's.
    const expected = {
      [order1]: ["order.created", "order.paid", "order.fulfilled"],
      [order2]: ["order.created", "order.paid", "order.refunded"],
      [order3]: ["order.created", "order.paid", "order.cancelled"],
    };
    const hooked = { ...expected, [order3]: [...expected[order3], "order.refunded"] };
    const inbox = {};
    for (const [id, events] of Object.entries(expected)) {
      inbox[id] = await until(`the emails of ${id}`, async () => {
        const { items } = await adminCall(
          "GET",
          `/v1/admin/emails?orderId=${encodeURIComponent(id)}&limit=200`,
        );
        const sent = items.filter((mail) => mail.status === "sent");
        return events.every((event) => sent.some((mail) => mail.event === event)) ? items : null;
      });
      for (const event of events) {
        const copies = inbox[id].filter((mail) => mail.event === event).length;
        assert.equal(copies, 1, `${id} ${event}: ${JSON.stringify(inbox[id].map((m) => [m.id, m.event]))}`);
      }
      assert.deepEqual(
        new Set(inbox[id].map((mail) => mail.event)),
        new Set(events),
        `no other email to ${id}`,
      );
    }
    for (const mail of Object.values(inbox).flat()) assert.ok([email1, email2, email3].includes(mail.to));
    const shipped = inbox[order1].find((mail) => mail.event === "order.fulfilled");
    assert.match(shipped.text, new RegExp(`RM${run}GB`));

    // The received email's link opens the order on another device (a fresh browser, no storage).
    const received = inbox[order1].find((mail) => mail.event === "order.created");
    const link = new RegExp(`${BASE}/orders/[^\\s#]+#token=[^\\s]+`).exec(received.text)?.[0];
    assert.ok(link, "the order-received email links to the order");
    const elsewhere = await newPage("after-sale-email-link");
    await elsewhere.setViewportSize(PHONE);
    await elsewhere.goto(link);
    await elsewhere.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
    await elsewhere
      .getByTestId("order-fulfillments")
      .getByRole("link", { name: `RM${run}GB` })
      .waitFor();
    assert.equal(new URL(elsewhere.url()).hash, "", "the token leaves the address bar");
    await fitsPhone(elsewhere);

    // Its HTML, opened from /admin, shows in a sandboxed frame under the page's policy.
    await ops.goto(`${BASE}/admin/emails?to=${encodeURIComponent(email1)}`);
    await ops.getByTestId("email-link").filter({ hasText: "shipped" }).first().click();
    await ops.getByTestId("email-headers").filter({ hasText: shipped.messageId }).waitFor();
    const frame = ops.frameLocator("[data-testid=email-html]");
    await frame.getByText(`RM${run}GB`).first().waitFor();
    assert.equal(await ops.getByTestId("email-html").getAttribute("sandbox"), "");
    await fitsPhone(ops);

    // Webhooks carried the same events, each once by its id, each signed.
    const events = await until("the webhooks", () => {
      const byId = new Map();
      for (const delivery of hook.deliveries) {
        assert.ok(signedBy(endpoint.secret, delivery), "a delivery signed with the endpoint's secret");
        const event = JSON.parse(delivery.body);
        byId.set(event.id, event);
      }
      const seen = new Set([...byId.values()].map((event) => `${event.data.order.id} ${event.type}`));
      const wanted = Object.entries(hooked).flatMap(([id, types]) => types.map((type) => `${id} ${type}`));
      return wanted.every((key) => seen.has(key)) ? [...byId.values()] : null;
    });
    for (const [id, types] of Object.entries(hooked)) {
      for (const type of types) {
        const copies = events.filter((e) => e.data.order.id === id && e.type === type).length;
        assert.equal(copies, 1, `${id} ${type} once`);
      }
    }
    cancelled = {
      order: order3,
      emails: inbox[order3],
      events: events.filter((e) => e.data.order.id === order3),
    };

    // Stock: A sold twice (order 3's unit came back), B's refunded unit back; the books balance.
    const net = { [SKU_A]: 2, [SKU_B]: 0 };
    for (const sku of [SKU_A, SKU_B]) {
      const now = await api.inventory(sku);
      assert.equal(now.reserved, 0, `${sku}: no hold left`);
      assert.equal(now.available, before[sku].available - net[sku], `${sku}: available`);
      assert.equal(
        now.onHand + now.committed - (before[sku].onHand + before[sku].committed),
        now.conservation.adjusted - before[sku].conservation.adjusted,
        `${sku}: on hand + committed conserved`,
      );
      assert.ok(now.conservation.balanced, `${sku}: ${now.conservation.problems?.join(", ")}`);
    }
    // The load tests' audit: units sold are what paid orders keep (restocked refunds back on the
    // shelf), and what the gateway refunded of each charge is what its order says.
    const proof = await audit(api, { before: books });
    const line = auditLine(proof);
    for (const figure of [
      "oversold",
      "lost",
      "double_charged",
      "refunds_mismatched",
      "stuck",
      "leaked_holds",
    ])
      assert.equal(proof[figure], 0, `${figure}: ${line}`);
    assert.ok(proof.conserved, line);
    for (const [sku, books] of Object.entries(proof.conservation)) {
      assert.equal(books.sold, books.paidUnits, `${sku}: sold = paid for, less restocked`);
    }
    // Money: one charge per order; what was kept is what the orders say is kept.
    const charges = (await api.charges()).filter((c) => [order1, order2, order3].includes(c.orderId));
    assert.equal(charges.length, 3);
    const kept = { [order1]: 8900, [order2]: 8900, [order3]: 0 };
    for (const charge of charges) {
      const order = await adminOrder(charge.orderId);
      assert.equal(charge.amount.amount, order.total.amount);
      assert.equal(
        charge.amount.amount - charge.refunded.amount,
        kept[charge.orderId],
        `kept of ${charge.orderId}`,
      );
      assert.equal(order.payment.refunded?.amount ?? 0, charge.refunded.amount);
    }
  });

  it("tells the buyer of a cancelled paid order's refund in the cancel's email, and announces it once", () => {
    assert.ok(cancelled, "the day after ran");
    const told = cancelled.emails.filter((mail) => mail.event === "order.cancelled");
    assert.equal(told.length, 1);
    assert.match(told[0].text, /We refunded/);
    assert.equal(cancelled.emails.filter((mail) => mail.event === "order.refunded").length, 0);
    assert.equal(cancelled.events.filter((event) => event.type === "order.refunded").length, 1);
  });

  it("sets up a drop with its stock, ships orders from a CSV and downloads the export, on a phone", async () => {
    const ops = await newPage("after-sale-admin-setup");
    await ops.setViewportSize(PHONE);
    await ops.goto(`${BASE}/admin/products?new`);
    await ops.getByTestId("admin-token").fill(ADMIN);
    await ops.getByTestId("admin-sign-in").click();

    // A product with two variants, a start time, limits and a waiting room.
    const slug = `drop-${run.toLowerCase()}`;
    const [red, blue] = [`DROP-${run}-RED`, `DROP-${run}-BLUE`];
    const startsAt = new Date(Date.now() + 3 * 86_400_000);
    startsAt.setSeconds(0, 0);
    await ops.getByTestId("product-slug").fill(slug);
    await ops.getByTestId("product-title").fill("Harbour Cap");
    await ops.getByLabel("Category").fill("drops");
    const rows = ops.getByTestId("variant-row");
    await rows.nth(0).getByLabel("SKU").fill(red);
    await rows.nth(0).getByLabel("Title").fill("Red");
    await rows.nth(0).getByLabel("Price").fill("35");
    await ops.getByRole("button", { name: "Add a variant" }).click();
    await rows.nth(1).getByLabel("SKU").fill(blue);
    await rows.nth(1).getByLabel("Title").fill("Blue");
    await rows.nth(1).getByLabel("Price").fill("35");
    const local = new Date(startsAt.getTime() - startsAt.getTimezoneOffset() * 60_000)
      .toISOString()
      .slice(0, 16);
    await ops.getByLabel("Sale starts").fill(local);
    await ops.getByLabel("Limit per order").fill("2");
    await ops.getByLabel("Limit per customer").fill("3");
    await ops.getByLabel("Waiting room: let in per minute").fill("120");
    await ops.getByTestId("product-save").click();
    await ops.getByTestId("product-outcome").filter({ hasText: "Created" }).waitFor();
    const made = await adminCall("GET", `/v1/products/${slug}`);
    assert.deepEqual(
      [
        made.variants.map((v) => [v.sku, v.price.amount]),
        made.saleStartsAt,
        made.maxPerOrder,
        made.maxPerCustomer,
        made.waitingRoom?.admitPerMinute,
      ],
      [
        [
          [red, 3500],
          [blue, 3500],
        ],
        startsAt.toISOString(),
        2,
        3,
        120,
      ],
    );

    // Stock: a stock take in two buckets, then an adjustment with its reason.
    await ops.locator(`#on-${red}`).fill("30");
    await ops.locator(`#bk-${red}`).fill("2");
    await ops.locator(`#on-${red}`).press("Enter");
    await ops
      .getByTestId(`stock-${red}`)
      .filter({ hasText: "On hand 30" })
      .filter({ hasText: "2 buckets" })
      .waitFor();
    await ops.locator(`#dl-${red}`).fill("5");
    await ops.locator(`#rs-${red}`).fill("Found a box");
    await ops.locator(`#rs-${red}`).press("Enter");
    await ops.getByTestId(`stock-${red}`).filter({ hasText: "On hand 35" }).waitFor();
    assert.equal((await adminCall("GET", `/v1/admin/inventory/${red}`)).onHand, 35);
    await fitsPhone(ops);

    // Archived after a confirmation: gone from the shop.
    await ops.getByRole("button", { name: "Archive…" }).click();
    await ops.getByTestId("confirm-yes").click();
    await ops.getByTestId("products-table").waitFor();
    assert.equal((await fetch(`${BASE}/v1/products/${slug}`)).status, 404);

    // Two paid orders shipped from a file: a bad row first (nothing written), then checked, then applied.
    const [first, second] = [
      await apiOrder(`csv1-${run.toLowerCase()}@example.com`, [{ sku: SKU_A, quantity: 2 }]),
      await apiOrder(`csv2-${run.toLowerCase()}@example.com`, [{ sku: SKU_A, quantity: 1 }]),
    ];
    const header = "order_id,lines,carrier,tracking_number,tracking_url";
    await ops.goto(`${BASE}/admin/fulfillments`);
    await ops
      .getByTestId("import-text")
      .fill(`${header}\n${first},all,DHL,DHL-${run}-1,\nNO-SUCH-ORDER,all,DHL,DHL-X,\n`);
    await ops.getByTestId("import-check").click();
    await ops.getByTestId("import-invalid").filter({ hasText: "NO-SUCH-ORDER" }).waitFor();
    assert.equal(await ops.getByTestId("import-apply").isDisabled(), true);
    await ops
      .getByTestId("import-text")
      .fill(
        `${header}\n${first},${SKU_A}:1,DHL,DHL-${run}-1,https://track.example/DHL-${run}-1\n${second},all,DHL,DHL-${run}-2,\n`,
      );
    await ops.getByTestId("import-check").click();
    await ops.getByTestId("import-summary").filter({ hasText: "2 would ship" }).waitFor();
    assert.equal((await adminOrder(first)).fulfillments.length, 0, "a dry run writes nothing");
    await ops.getByTestId("import-apply").click();
    await ops.getByTestId("import-summary").filter({ hasText: "Applied: 2 shipped" }).waitFor();
    assert.equal(await ops.getByTestId("import-rows").locator("tbody tr").count(), 2);
    assert.equal((await adminOrder(first)).fulfillmentStatus, "partially_fulfilled");
    assert.equal((await adminOrder(second)).fulfillmentStatus, "fulfilled");
    await fitsPhone(ops);

    // The warehouse's export: what is left to ship, downloaded with the admin token.
    await ops.getByLabel("Fulfilment").selectOption("partially_fulfilled");
    const [download] = await Promise.all([
      ops.waitForEvent("download"),
      ops.getByTestId("export-download").click(),
    ]);
    assert.match(download.suggestedFilename(), /^orders-.*\.csv$/);
    const csv = await new Response(await download.createReadStream()).text();
    assert.ok(csv.includes(first), "the partly shipped order is in the export");
    assert.ok(!csv.includes(second), "the shipped one is not");

    // The dashboard on the same phone: its tables scroll inside their boxes, its chart labels stay readable.
    await ops.goto(`${BASE}/admin`);
    await ops.getByTestId("chart-checkouts").locator("text.tick").first().waitFor();
    await ops.getByTestId("ops-orders").waitFor();
    await fitsPhone(ops);
    const label = await ops.getByTestId("chart-checkouts").locator("text.tick").first().boundingBox();
    assert.ok(label.height >= 11, `chart labels are ${label.height} px high`);
    assert.match(await ops.getByTestId("ops-stock").textContent(), /sold \(paid\) in 5 min/);
  });

  it("drops the 3-D Secure button once the bank's question is answered, and explains a missing token", async () => {
    const page = await newPage("after-sale-3ds-answered");
    await page.setViewportSize(PHONE);
    await page.goto(`${BASE}/products/classic-tee`);
    await page.getByTestId("add-to-cart").click();
    await page.goto(`${BASE}/cart`);
    await page.getByTestId("checkout-email").fill(`secure-${run.toLowerCase()}@example.com`);
    await fillBuyer(page);
    await page.getByLabel("Payment (test card)").selectOption("tok_3ds");
    await page.getByTestId("place-order").click();
    await page.waitForURL(/\/orders\//);
    const button = page.getByTestId("confirm-payment");
    await button.waitFor({ timeout: 20_000 });
    // The buyer answers the bank elsewhere (another tab, their bank's app): this page only polls.
    const challenge = new URL(await button.getAttribute("href"), BASE).pathname.split("/").at(-1);
    const answered = await fetch(`${BASE}/v1/simulator/challenges/${challenge}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ result: "pass" }),
    });
    assert.ok(answered.ok, `the challenge answered ${answered.status}`);
    await page.getByTestId("order-status").filter({ hasText: "Paid" }).waitFor({ timeout: 20_000 });
    assert.equal(await button.count(), 0, "no button to confirm a payment that is paid");
    await page.getByTestId("order-address").waitFor();

    // The same order on a device that never saw it, without the email's link.
    const id = new URL(page.url()).pathname.split("/")[2];
    const stranger = await newPage("after-sale-no-token");
    await stranger.goto(`${BASE}/orders/${id}`);
    await stranger
      .getByTestId("order-status")
      .filter({ hasText: "needs the link from your order email" })
      .waitFor();
    await stranger.getByTestId("order-no-token").waitFor();
  });
});
