// /admin/orders/:id: one order whole (lines, address, money, payment, refunds, fulfilments, timeline,
// its emails and webhook dead letters) with what the operator can do to it.
import { api, money, nav, outcome, scrollTable, when } from "./admin-api.js";
import { cancelPanel, fulfilPanel, refundPanel } from "./admin-order-actions.js";
import { app, el } from "./ui.js";

const safeLink = (url, text) => {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "https:" || parsed.protocol === "http:")
      return el("a", { href: parsed.href, rel: "noopener noreferrer", target: "_blank" }, text);
  } catch {
    // not a URL: shown as text
  }
  return text;
};

const lineList = (lines) => lines.map((line) => `${line.quantity} × ${line.sku}`).join(", ");

function addressBlock(order) {
  const a = order.shippingAddress;
  if (!a) return el("p", { class: "muted", "data-testid": "order-address" }, "No shipping address.");
  return el(
    "address",
    { "data-testid": "order-address" },
    [a.name, a.line1, a.line2, [a.postalCode, a.city].join(" "), a.region, a.country]
      .filter(Boolean)
      .flatMap((line) => [line, el("br")]),
  );
}

function summary(order) {
  const t = order.totals;
  return el(
    "dl",
    { class: "facts", "data-testid": "order-summary" },
    [
      ["Status", order.cancelledAt ? `${order.status} · cancelled by the shop` : order.status],
      [
        "Payment",
        `${order.payment.status} · ${order.payment.attempts} attempt${order.payment.attempts === 1 ? "" : "s"}`,
      ],
      ["Fulfilment", order.fulfillmentStatus],
      ["Customer", [order.customer.name, order.customer.email].filter(Boolean).join(" · ")],
      ["Created", when(order.createdAt)],
      ["Subtotal", money(t?.subtotal)],
      [
        "Discount",
        order.discountCode ? `${money(t?.discount)} · code ${order.discountCode}` : money(t?.discount),
      ],
      [
        "Shipping",
        order.shippingMethod ? `${money(t?.shipping)} · ${order.shippingMethod.name}` : money(t?.shipping),
      ],
      ["Tax", t?.taxIncluded ? `${money(t?.tax)} · included in the prices` : money(t?.tax)],
      ["Total", money(order.total)],
      ["Refunded", money(order.payment.refunded)],
      order.payment.dispute
        ? [
            "Dispute",
            `${order.payment.dispute.status} · ${order.payment.dispute.reason} · ${money(order.payment.dispute.amount)}`,
          ]
        : null,
      order.failureReason ? ["Why it ended", order.failureReason] : null,
      order.cancelledAt ? ["Cancelled", `${when(order.cancelledAt)} · refunded in full, never ships`] : null,
    ]
      .filter(Boolean)
      .flatMap(([term, value]) => [el("dt", {}, term), el("dd", { "data-fact": term }, value)]),
  );
}

const section = (title, ...content) => el("section", { class: "panel" }, el("h2", {}, title), ...content);

async function related(id) {
  const [emails, letters] = await Promise.all([
    api("GET", `/v1/admin/emails?orderId=${encodeURIComponent(id)}&limit=50`).catch((error) => error),
    api("GET", "/v1/admin/webhooks/dead-letters?limit=50").catch((error) => error),
  ]);
  const emailPart =
    emails instanceof Error
      ? el("p", { class: "outcome", "data-tone": "error" }, emails.message)
      : scrollTable(
          `${emails.items.length} email${emails.items.length === 1 ? "" : "s"}`,
          ["subject", "to", "event", "status", "sent"],
          emails.items.map((mail) => [
            el("a", { href: `/admin/emails/${encodeURIComponent(mail.id)}` }, mail.subject),
            mail.to,
            mail.event,
            mail.status,
            when(mail.sentAt),
          ]),
          "order-emails",
        );
  // The API lists dead letters of every order: those naming this one are shown.
  const mine =
    letters instanceof Error ? [] : letters.items.filter((l) => JSON.stringify(l.event).includes(`"${id}"`));
  const letterPart =
    letters instanceof Error
      ? el("p", { class: "outcome", "data-tone": "error" }, letters.message)
      : mine.length === 0
        ? el("p", { class: "muted" }, "No webhook delivery of this order was given up on.")
        : scrollTable(
            "Webhook deliveries given up on",
            ["event", "endpoint", "attempts", "last error", "state"],
            mine.map((l) => [
              l.event.type,
              l.endpointId,
              l.attempts,
              l.lastError ?? String(l.lastStatus ?? ""),
              l.state,
            ]),
            "order-dead-letters",
          );
  return [section("Emails to the buyer", emailPart), section("Webhooks", letterPart)];
}

export async function orderScreen(id) {
  const status = outcome("order-outcome");
  app.replaceChildren(nav(), el("h1", {}, "Order"), status);
  let order;
  try {
    order = await api("GET", `/v1/admin/orders/${encodeURIComponent(id)}`);
  } catch (error) {
    status.fail(error);
    return;
  }
  const reload = () => orderScreen(id);
  app.replaceChildren(
    nav(),
    el("h1", {}, "Order ", el("span", { class: "mono", "data-testid": "order-id" }, order.id)),
    status,
    summary(order),
    section("Ship to", addressBlock(order)),
    section(
      "Lines",
      scrollTable(
        "What was bought",
        ["SKU", "title", "quantity", "unit price"],
        order.items.map((item) => [item.sku, item.title, String(item.quantity), money(item.unitPrice)]),
        "order-lines",
      ),
    ),
    section(
      "Refunds",
      order.refunds.length === 0
        ? el("p", { class: "muted" }, "None.")
        : scrollTable(
            "Refunds",
            ["amount", "lines", "restocked", "status", "reason", "when"],
            order.refunds.map((r) => [
              money(r.amount),
              r.lines ? lineList(r.lines) : "amount",
              r.restocked ? "yes" : r.restock ? "pending" : "no",
              r.failure ? `${r.status}: ${r.failure}` : r.status,
              r.reason ?? (r.cancel ? "cancelled" : ""),
              when(r.createdAt),
            ]),
            "order-refunds",
          ),
    ),
    section(
      "Fulfilments",
      order.fulfillments.length === 0
        ? el("p", { class: "muted" }, "Nothing shipped yet.")
        : scrollTable(
            "Fulfilments",
            ["lines", "carrier", "tracking", "when"],
            order.fulfillments.map((f) => [
              lineList(f.lines),
              f.carrier,
              f.trackingUrl ? safeLink(f.trackingUrl, f.trackingNumber) : f.trackingNumber,
              when(f.createdAt),
            ]),
            "order-fulfillments",
          ),
    ),
    section("Act", fulfilPanel(order, reload), refundPanel(order, reload), cancelPanel(order, reload)),
    section(
      "Timeline",
      el(
        "ol",
        { class: "timeline", "data-testid": "order-timeline" },
        (order.timeline ?? []).map((entry) =>
          el(
            "li",
            {},
            el("time", { datetime: entry.at }, when(entry.at)),
            ` ${entry.event}`,
            entry.detail ? ` · ${entry.detail}` : "",
          ),
        ),
      ),
    ),
    ...(await related(order.id)),
  );
}
