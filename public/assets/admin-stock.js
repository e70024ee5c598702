// The stock of one SKU on the products screen: what it holds, a stock take (set on hand, and how
// many buckets share it), and an adjustment (a delta with its reason, once per press).
import { api, field, outcome } from "./admin-api.js";
import { el } from "./ui.js";

export function stockPanel(sku) {
  const result = outcome(`stock-outcome-${sku}`);
  const figures = el("p", { class: "muted", "data-testid": `stock-${sku}` }, "Loading stock…");
  const refresh = async () => {
    try {
      const s = await api("GET", `/v1/admin/inventory/${encodeURIComponent(sku)}`);
      figures.textContent = `On hand ${s.onHand} · sold ${s.committed} · held ${s.reserved} · available ${s.available} · ${s.bucketCount} bucket${s.bucketCount === 1 ? "" : "s"}`;
    } catch (error) {
      figures.textContent = error.status === 404 ? "No stock yet." : error.message;
    }
  };
  const set = el(
    "form",
    {
      class: "inline-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const buckets = Number(data.get("buckets"));
        try {
          await api("PUT", `/v1/admin/inventory/${encodeURIComponent(sku)}`, {
            body: { onHand: Number(data.get("onHand")), ...(buckets ? { buckets } : {}) },
          });
          result.show("Stock set.");
          refresh();
        } catch (error) {
          result.fail(error);
        }
      },
    },
    field("On hand", { name: "onHand", type: "number", min: 0, required: true, id: `on-${sku}` }),
    field("Buckets", { name: "buckets", type: "number", min: 1, id: `bk-${sku}`, placeholder: "keep" }),
    el("button", { type: "submit" }, "Set"),
  );
  // One key per adjustment meant: a retry after a network error cannot adjust twice.
  let pending = null;
  const adjust = el(
    "form",
    {
      class: "inline-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const body = { delta: Number(data.get("delta")), reason: String(data.get("reason")).trim() };
        const fingerprint = JSON.stringify(body);
        if (pending?.fingerprint !== fingerprint) pending = { fingerprint, key: crypto.randomUUID() };
        try {
          await api("POST", `/v1/admin/inventory/${encodeURIComponent(sku)}/adjustments`, {
            body,
            headers: { "Idempotency-Key": pending.key },
          });
          pending = null;
          event.target.reset();
          result.show("Adjusted.");
          refresh();
        } catch (error) {
          result.fail(error);
        }
      },
    },
    field("Adjust by", { name: "delta", type: "number", required: true, id: `dl-${sku}` }),
    field("Reason", { name: "reason", required: true, maxlength: 200, id: `rs-${sku}` }),
    el("button", { type: "submit" }, "Adjust"),
  );
  refresh();
  return el("div", { class: "stock" }, el("h4", {}, `Stock of ${sku}`), figures, set, adjust, result);
}
