// What the operator can do to one order: ship lines with tracking, refund (an amount, or lines with
// or without restocking), cancel. Refunds and cancels are asked about first: they cannot be undone.
import { api, confirmStep, field, money, outcome } from "./admin-api.js";
import { el } from "./ui.js";

const units = (lists) => {
  const by = new Map();
  for (const line of lists.flat()) by.set(line.sku, (by.get(line.sku) ?? 0) + line.quantity);
  return by;
};

/** Per SKU: bought, shipped, refunded (refunds that did not fail), and what is left to ship. */
function lineState(order) {
  const shipped = units(order.fulfillments.map((f) => f.lines));
  const refunded = units(order.refunds.filter((r) => r.status !== "failed" && r.lines).map((r) => r.lines));
  return order.items.map((item) => {
    const done = shipped.get(item.sku) ?? 0;
    const back = refunded.get(item.sku) ?? 0;
    return { ...item, shipped: done, refunded: back, left: Math.max(0, item.quantity - done - back) };
  });
}

/** A quantity input per line, up to `max(line)`; answers the chosen [{sku, quantity}]. */
function lineInputs(prefix, lines, max) {
  const inputs = lines.map((line) =>
    el("input", {
      type: "number",
      min: 0,
      max: max(line),
      value: 0,
      id: `${prefix}-${line.sku}`,
      "data-sku": line.sku,
      "data-testid": `${prefix}-qty`,
      disabled: max(line) === 0,
    }),
  );
  const node = el(
    "fieldset",
    { class: "line-picks" },
    el("legend", {}, "Lines"),
    lines.map((line, i) =>
      el("label", { for: inputs[i].id }, el("span", {}, `${line.sku} (up to ${max(line)})`), inputs[i]),
    ),
  );
  const chosen = () =>
    inputs
      .map((input) => ({ sku: input.dataset.sku, quantity: Number(input.value) || 0 }))
      .filter((line) => line.quantity > 0);
  return { node, chosen };
}

export function fulfilPanel(order, reload) {
  const lines = lineState(order);
  const result = outcome("fulfil-outcome");
  if (order.status !== "paid" || lines.every((line) => line.left === 0)) {
    return el("div", { class: "act" }, el("h3", {}, "Ship"), el("p", { class: "muted" }, "Nothing to ship."));
  }
  const picks = lineInputs("fulfil", lines, (line) => line.left);
  const form = el(
    "form",
    {
      class: "act",
      "data-testid": "fulfil-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const chosen = picks.chosen();
        const url = String(data.get("trackingUrl") ?? "").trim();
        const body = {
          carrier: String(data.get("carrier")).trim(),
          trackingNumber: String(data.get("trackingNumber")).trim(),
          ...(url ? { trackingUrl: url } : {}),
          ...(chosen.length ? { lines: chosen } : {}),
        };
        const button = event.target.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          await api("POST", `/v1/admin/orders/${encodeURIComponent(order.id)}/fulfillments`, { body });
          await reload();
        } catch (error) {
          result.fail(error);
          button.disabled = false;
        }
      },
    },
    el("h3", {}, "Ship"),
    el("p", { class: "muted" }, "Leave every quantity at 0 to ship everything left."),
    picks.node,
    field("Carrier", { name: "carrier", required: true, maxlength: 100, "data-testid": "fulfil-carrier" }),
    field("Tracking number", {
      name: "trackingNumber",
      required: true,
      maxlength: 100,
      "data-testid": "fulfil-number",
    }),
    field("Tracking URL", {
      name: "trackingUrl",
      type: "url",
      pattern: "https?://.+",
      "data-testid": "fulfil-url",
    }),
    el("button", { type: "submit", class: "primary", "data-testid": "fulfil-submit" }, "Mark shipped"),
    result,
  );
  return form;
}

const digits = (currency) =>
  new Intl.NumberFormat(undefined, { style: "currency", currency }).resolvedOptions().maximumFractionDigits;

/**
 * One Idempotency-Key per refund the operator means: pressing again after a failure (the network,
 * a timeout) with the same form sends the same key, so the shop refunds at most once; changing the
 * form is another refund and gets a new key.
 */
let attempt = null;
const keyFor = (fingerprint) => {
  if (attempt?.fingerprint !== fingerprint) attempt = { fingerprint, key: crypto.randomUUID() };
  return attempt.key;
};

export function refundPanel(order, reload) {
  const refundable = order.status === "paid" && !order.cancelledAt && order.payment.status !== "refunded";
  if (!refundable) {
    return el(
      "div",
      { class: "act" },
      el("h3", {}, "Refund"),
      el("p", { class: "muted" }, "Nothing to refund."),
    );
  }
  const currency = order.total.currency;
  const lines = lineState(order);
  const picks = lineInputs("refund", lines, (line) => line.quantity - line.refunded);
  const result = outcome("refund-outcome");
  const form = el(
    "form",
    {
      class: "act",
      "data-testid": "refund-form",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const amountText = String(data.get("amount") ?? "").trim();
        const chosen = picks.chosen();
        const reason = String(data.get("reason") ?? "").trim();
        const body = {
          restock: data.get("restock") === "on",
          ...(amountText
            ? { amount: { amount: Math.round(Number(amountText) * 10 ** digits(currency)), currency } }
            : {}),
          ...(chosen.length ? { lines: chosen } : {}),
          ...(reason ? { reason } : {}),
        };
        if (amountText && !(body.amount.amount > 0))
          return result.show("The amount must be above zero.", "error");
        const what = body.amount
          ? money(body.amount)
          : chosen.length
            ? chosen.map((l) => `${l.quantity} × ${l.sku}`).join(", ")
            : "everything left";
        confirmStep(
          form,
          `Refund ${what}${body.restock ? " and put the units back in stock" : ""}? This cannot be undone.`,
          async () => {
            try {
              await api("POST", `/v1/admin/orders/${encodeURIComponent(order.id)}/refunds`, {
                body,
                headers: { "Idempotency-Key": keyFor(JSON.stringify(body)) },
              });
              attempt = null;
              await reload();
            } catch (error) {
              result.fail(error);
            }
          },
        );
      },
    },
    el("h3", {}, "Refund"),
    el(
      "p",
      { class: "muted" },
      `Charged ${money(order.total)}; refunded so far ${money(order.payment.refunded ?? { amount: 0, currency })}. Neither an amount nor lines: everything left.`,
    ),
    picks.node,
    field(`Amount (${currency})`, {
      name: "amount",
      type: "number",
      min: 0,
      step: "any",
      inputmode: "decimal",
      "data-testid": "refund-amount",
    }),
    el(
      "label",
      { class: "check" },
      el("input", { type: "checkbox", name: "restock", "data-testid": "refund-restock" }),
      " Put the refunded units back in stock",
    ),
    field("Reason", { name: "reason", maxlength: 500, "data-testid": "refund-reason" }),
    el("button", { type: "submit", class: "danger", "data-testid": "refund-submit" }, "Refund…"),
    result,
  );
  return form;
}

export function cancelPanel(order, reload) {
  const result = outcome("cancel-outcome");
  // A paid order the shop cancels stays paid (its money is refunded) and carries cancelledAt.
  const open =
    order.status === "pending_payment" ||
    (order.status === "paid" &&
      !order.cancelledAt &&
      order.fulfillments.length === 0 &&
      order.payment.status !== "refunded");
  if (!open)
    return el(
      "div",
      { class: "act" },
      el("h3", {}, "Cancel"),
      el("p", { class: "muted" }, "This order cannot be cancelled."),
    );
  const box = el(
    "div",
    { class: "act" },
    el("h3", {}, "Cancel"),
    el(
      "p",
      { class: "muted" },
      order.status === "paid"
        ? "Refunds the whole payment and puts every unit back in stock."
        : "Withdraws the payment and releases the units.",
    ),
  );
  box.append(
    el(
      "button",
      {
        type: "button",
        class: "danger",
        "data-testid": "cancel-order",
        onclick: () =>
          confirmStep(box, "Cancel this order? This cannot be undone.", async () => {
            try {
              await api("POST", `/v1/admin/orders/${encodeURIComponent(order.id)}/cancel`);
              await reload();
            } catch (error) {
              result.fail(error);
            }
          }),
      },
      "Cancel order…",
    ),
    result,
  );
  return box;
}
