import { ORDER_EVENT_TYPES, type OrderEvent, type OrderEventType } from "../events.schemas";

/**
 * The buyer's emails, one per order event they are told of: received (with the link to the order,
 * which carries its token, so it opens on any device), confirmed, payment failed (and what to do),
 * shipped, refunded, cancelled. HTML and plain text alike; everything the buyer or the shop typed is
 * escaped, and the layout is one narrow column that reads in any mail client.
 */
export type ShopIdentity = {
  name: string;
  /** Where the shop is, for links (https://shop.example); empty: emails carry no links. */
  url: string;
  logoUrl: string;
  supportEmail: string;
  from: string;
};

export type RenderedEmail = { to: string; subject: string; text: string; html: string; replyTo?: string };

/** The events a buyer is emailed about: every order event (a cancel's refund is told by the cancel). */
const EMAILED: ReadonlySet<OrderEventType> = new Set(ORDER_EVENT_TYPES);

function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** Money as a buyer reads it: minor units over the currency's exponent, with its code. */
export function formatMoney({ amount, currency }: { amount: number; currency: string }): string {
  const digits = ZERO_DECIMAL.has(currency) ? 0 : 2;
  const value = (amount / 10 ** digits).toFixed(digits);
  return `${value} ${currency}`;
}
const ZERO_DECIMAL = new Set(["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"]);

/** Only http(s) links are ever put in an email; anything else (javascript:, data:) is dropped. */
export function safeUrl(url: string | undefined | null): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.toString() : null;
  } catch {
    return null;
  }
}

export type Block = { text: string; html: string };

export const paragraph = (text: string): Block => ({
  text,
  html: `<p style="margin:0 0 16px">${escapeHtml(text)}</p>`,
});

export const link = (label: string, url: string | null): Block | null =>
  url
    ? {
        text: `${label}: ${url}`,
        html: `<p style="margin:0 0 16px"><a href="${escapeHtml(url)}" style="display:inline-block;padding:10px 16px;background:#111;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(label)}</a></p>`,
      }
    : null;

function lines(items: { title: string; sku: string; quantity: number; price?: string }[]): Block {
  const text = items.map(
    (item) => `  ${item.quantity} × ${item.title} (${item.sku})${item.price ? `  ${item.price}` : ""}`,
  );
  const rows = items
    .map(
      (item) =>
        `<tr><td style="padding:4px 8px 4px 0;vertical-align:top">${item.quantity} ×</td><td style="padding:4px 0;word-break:break-word">${escapeHtml(item.title)}<br><span style="color:#666;font-size:13px">${escapeHtml(item.sku)}</span></td><td style="padding:4px 0 4px 8px;text-align:right;white-space:nowrap;vertical-align:top">${escapeHtml(item.price ?? "")}</td></tr>`,
    )
    .join("");
  return {
    text: text.join("\n"),
    html: `<table role="presentation" style="width:100%;border-collapse:collapse;margin:0 0 16px">${rows}</table>`,
  };
}

function address(order: OrderEvent["data"]["order"]): Block | null {
  const to = order.shippingAddress;
  if (!to) return null;
  const parts = [
    to.name ?? order.customer.name,
    to.line1,
    to.line2,
    [to.postalCode, to.city].filter(Boolean).join(" "),
    to.region,
    to.country,
  ].filter((part): part is string => Boolean(part));
  return {
    text: `Shipping to:\n  ${parts.join("\n  ")}`,
    html: `<p style="margin:0 0 16px"><strong>Shipping to</strong><br>${parts.map(escapeHtml).join("<br>")}</p>`,
  };
}

export function layout(
  shop: ShopIdentity,
  heading: string,
  blocks: (Block | null)[],
): { text: string; html: string } {
  const present = blocks.filter((block): block is Block => block !== null);
  const logo = safeUrl(shop.logoUrl);
  const support = shop.supportEmail
    ? `Questions? Write to ${shop.supportEmail}.`
    : "Questions? Reply to this email.";
  const text = [heading, ...present.map((block) => block.text), support, `— ${shop.name}`].join("\n\n");
  const html = `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(heading)}</title></head><body style="margin:0;padding:0;background:#f4f4f4"><div style="max-width:560px;margin:0 auto;padding:24px 16px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#111;background:#fff">${logo ? `<img src="${escapeHtml(logo)}" alt="${escapeHtml(shop.name)}" style="max-width:160px;height:auto;margin:0 0 16px">` : `<p style="margin:0 0 16px;font-weight:bold">${escapeHtml(shop.name)}</p>`}<h1 style="font-size:20px;margin:0 0 16px">${escapeHtml(heading)}</h1>${present.map((block) => block.html).join("")}<p style="margin:24px 0 0;color:#666;font-size:13px">${escapeHtml(support)}</p></div></body></html>`;
  return { text, html };
}

/**
 * The order's money as the buyer reads it: the total, after its subtotal, discount (with the code),
 * shipping and tax where there are any; tax said as included when prices include it.
 */
function totalsBlock(order: OrderEvent["data"]["order"]): Block {
  const { totals } = order;
  const parts: string[] = [];
  const shown = totals.discount.amount > 0 || totals.shipping.amount > 0 || totals.tax.amount > 0;
  if (shown) {
    parts.push(`Subtotal: ${formatMoney(totals.subtotal)}`);
    if (totals.discount.amount > 0) {
      const code = order.discountCode ? ` (${order.discountCode})` : "";
      parts.push(`Discount${code}: -${formatMoney(totals.discount)}`);
    }
    if (totals.shipping.amount > 0 || order.shippingMethod) {
      const method = order.shippingMethod ? ` (${order.shippingMethod.name})` : "";
      parts.push(`Shipping${method}: ${formatMoney(totals.shipping)}`);
    }
    if (totals.tax.amount > 0) {
      parts.push(`${totals.taxIncluded ? "Tax included" : "Tax"}: ${formatMoney(totals.tax)}`);
    }
  }
  parts.push(`Total: ${formatMoney(order.total)}`);
  return {
    text: parts.join("\n"),
    html: `<p style="margin:0 0 16px">${parts.map(escapeHtml).join("<br>")}</p>`,
  };
}

/**
 * The email for an event, or null for an event the buyer is not emailed about. `orderToken`: the
 * order's capability (only at `order.created`, the one moment the shard still has it), for a link
 * that opens the order on any device.
 */
export function emailFor(event: OrderEvent, shop: ShopIdentity, orderToken?: string): RenderedEmail | null {
  if (!EMAILED.has(event.type)) return null;
  const order = event.data.order;
  const base = safeUrl(shop.url);
  const orderUrl =
    base && orderToken
      ? `${base.replace(/\/$/, "")}/orders/${encodeURIComponent(order.id)}#token=${encodeURIComponent(orderToken)}`
      : null;
  const shopUrl = base;
  const name = order.customer.name ? `Hello ${order.customer.name},` : "Hello,";
  const items = order.items.map((item) => ({
    title: item.title,
    sku: item.sku,
    quantity: item.quantity,
    price: formatMoney({ amount: item.unitPrice.amount * item.quantity, currency: item.unitPrice.currency }),
  }));
  const total = totalsBlock(order);
  const ref = `Order ${order.id}`;
  let subject: string;
  let heading: string;
  let blocks: (Block | null)[];
  switch (event.type) {
    case "order.created":
      subject = `We received your order ${order.id}`;
      heading = "We received your order";
      blocks = [
        paragraph(name),
        paragraph(
          `Thank you. We are taking the payment now and will email you again when it is done. ${ref}.`,
        ),
        lines(items),
        total,
        address(order),
        link("View your order", orderUrl),
        orderUrl ? paragraph("Keep this email: its link opens your order on any device.") : null,
      ];
      break;
    case "order.paid":
      subject = `Your order ${order.id} is confirmed`;
      heading = "Payment received: your order is confirmed";
      blocks = [
        paragraph(name),
        paragraph(`${ref} is paid. We will email you when it ships.`),
        lines(items),
        total,
        address(order),
      ];
      break;
    case "order.payment_failed":
      subject = `Payment failed for your order ${order.id}`;
      heading = "Your payment did not go through";
      blocks = [
        paragraph(name),
        paragraph(
          `We could not take the payment for ${ref}${order.failureReason ? ` (${order.failureReason})` : ""}. Nothing was charged, or any charge is refunded in full, and the items were released.`,
        ),
        paragraph(
          "What to do: place the order again, with another card or after checking with your bank. If the items are still available, they are yours to buy.",
        ),
        link("Back to the shop", shopUrl),
        lines(items),
      ];
      break;
    case "order.cancelled": {
      const paid = order.status === "paid";
      const refund = order.refunds.find((made) => made.cancel && made.status === "succeeded");
      subject = `Your order ${order.id} is cancelled`;
      heading = "Your order is cancelled";
      blocks = [
        paragraph(name),
        paragraph(
          paid
            ? `${ref} is cancelled and will not ship. We refunded ${formatMoney(refund?.amount ?? order.total)} to the card you paid with; banks usually show it within 5 to 10 business days.`
            : `${ref} is cancelled. Nothing was charged (or any charge is refunded in full).`,
        ),
        lines(items),
      ];
      break;
    }
    case "order.refunded": {
      const refund = event.data.refund;
      // A cancel's refund is told in the cancel's own email.
      if (refund?.cancel) return null;
      const amount = refund ? refund.amount : (order.payment.refunded ?? order.total);
      const refundedLines = refund?.lines
        ?.map((line) => {
          const item = order.items.find((candidate) => candidate.sku === line.sku);
          return { title: item?.title ?? line.sku, sku: line.sku, quantity: line.quantity };
        })
        .filter(Boolean);
      subject = `We refunded ${formatMoney(amount)} for your order ${order.id}`;
      heading = "Your refund is on its way";
      blocks = [
        paragraph(name),
        paragraph(
          `We refunded ${formatMoney(amount)} of ${ref} to the card you paid with. Banks usually show it within 5 to 10 business days.`,
        ),
        refundedLines && refundedLines.length > 0 ? lines(refundedLines) : null,
        refund?.reason ? paragraph(`Reason: ${refund.reason}`) : null,
      ];
      break;
    }
    case "order.fulfilled":
    case "order.partially_fulfilled": {
      const shipment = event.data.fulfillment;
      const shipped = (shipment?.lines ?? []).map((line) => {
        const item = order.items.find((candidate) => candidate.sku === line.sku);
        return { title: item?.title ?? line.sku, sku: line.sku, quantity: line.quantity };
      });
      const partly = event.type === "order.partially_fulfilled";
      subject = partly ? `Part of your order ${order.id} has shipped` : `Your order ${order.id} has shipped`;
      heading = partly ? "Part of your order is on its way" : "Your order is on its way";
      blocks = [
        paragraph(name),
        paragraph(
          shipment
            ? `${ref} shipped with ${shipment.carrier}, tracking number ${shipment.trackingNumber}.${partly ? " The rest follows separately." : ""}`
            : `${ref} shipped.`,
        ),
        link("Track the parcel", safeUrl(shipment?.trackingUrl)),
        shipped.length > 0 ? lines(shipped) : null,
        address(order),
      ];
      break;
    }
    default:
      return null;
  }
  const body = layout(shop, heading, blocks);
  return {
    to: order.customer.email,
    subject: subject.replace(/[\r\n]+/g, " "),
    ...body,
    ...(shop.supportEmail ? { replyTo: shop.supportEmail } : {}),
  };
}
