import type { DrawEvent } from "../events.schemas";
import {
  type Block,
  formatMoney,
  layout,
  link,
  paragraph,
  type RenderedEmail,
  type ShopIdentity,
  safeUrl,
} from "./emails";

/**
 * A draw's emails to an entrant, one per draw event: in the draw (and what is held on the card), won
 * (with the order's link, which carries its token), not drawn (and the hold released). Everything the
 * buyer or the shop typed is escaped by the layout.
 */
export function drawEmailFor(
  event: DrawEvent,
  shop: ShopIdentity,
  details: { title: string; name: string | null; orderToken?: string },
): RenderedEmail {
  const { entry } = event.data;
  const base = safeUrl(shop.url)?.replace(/\/$/, "") ?? null;
  const productUrl = base ? `${base}/products/${encodeURIComponent(entry.product)}` : null;
  const hello = details.name ? `Hello ${details.name},` : "Hello,";
  const amount = formatMoney(entry.amount);
  const what = `${details.title} (${entry.sku})`;
  let subject: string;
  let heading: string;
  let blocks: (Block | null)[];
  switch (event.type) {
    case "draw.entered":
      subject = `You are in the draw for ${details.title}`;
      heading = "You are in the draw";
      blocks = [
        paragraph(hello),
        paragraph(
          `Your entry for ${what} is in. We have authorized ${amount} on your card: you are charged only if you win.`,
        ),
        paragraph(`The draw is at ${new Date(entry.closesAt).toUTCString()}. We will email you the result.`),
        link("See your entry", productUrl),
        paragraph(`Entry ${entry.entryId}.`),
      ];
      break;
    case "draw.won": {
      const orderUrl =
        base && entry.orderId && details.orderToken
          ? `${base}/orders/${encodeURIComponent(entry.orderId)}#token=${encodeURIComponent(details.orderToken)}`
          : null;
      subject = `You won the draw for ${details.title}`;
      heading = "You won";
      blocks = [
        paragraph(hello),
        paragraph(
          `Your entry for ${what} was drawn. We have charged ${amount}; order ${entry.orderId ?? ""}.`,
        ),
        link("View your order", orderUrl),
        orderUrl ? paragraph("Keep this email: its link opens your order on any device.") : null,
      ];
      break;
    }
    case "draw.lost":
      subject = `The draw for ${details.title}: not this time`;
      heading = "Not this time";
      blocks = [
        paragraph(hello),
        paragraph(
          entry.reason === "capture_failed"
            ? `Your entry for ${what} was drawn, but your card declined the charge, so the unit went to the next entry.`
            : `Your entry for ${what} was not drawn.`,
        ),
        paragraph(`You were not charged: the ${amount} held on your card is released.`),
        link("How the draw was made", productUrl),
      ];
      break;
  }
  const { text, html } = layout(shop, heading, blocks);
  return {
    to: entry.email,
    subject,
    text,
    html,
    ...(shop.supportEmail ? { replyTo: shop.supportEmail } : {}),
  };
}
