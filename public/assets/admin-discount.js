// /admin/discounts/:code: one code (or a batch, by its prefix): its terms, its uses held, used and
// left, its usage report (orders, revenue, discount given), and the form for what may change: its
// dates, caps, minimum and status. What it takes off never changes: a different offer is a new code.
import {
  api,
  choice,
  download,
  field,
  fieldErrors,
  isoOf,
  localInput,
  minor,
  money,
  nav,
  outcome,
  scrollTable,
  when,
} from "./admin-api.js";
import { offerOf, scopeOf, usesOf } from "./admin-discounts.js";
import { app, el } from "./ui.js";

const facts = (pairs, testid) =>
  el(
    "dl",
    { class: "facts", "data-testid": testid },
    pairs
      .filter(Boolean)
      .flatMap(([term, value]) => [el("dt", {}, term), el("dd", { "data-fact": term }, value)]),
  );

const at = (path, node) => {
  node.dataset.path = path;
  return node;
};

/**
 * The change as the API takes it: only the fields the operator changed; an emptied field is null
 * (cleared). The API refuses, naming the field, a cap added to a code made without one or removed.
 */
function patchOf(code, data) {
  const patch = {};
  const set = (name, typed, current) => {
    if (typed === current) return;
    patch[name] = typed === "" ? null : typed;
  };
  set("startsAt", isoOf(String(data.get("startsAt"))), code.startsAt ? isoOf(localInput(code.startsAt)) : "");
  set("endsAt", isoOf(String(data.get("endsAt"))), code.endsAt ? isoOf(localInput(code.endsAt)) : "");
  for (const cap of ["maxUses", "maxUsesPerCustomer"]) {
    const typed = String(data.get(cap) ?? "").trim();
    set(cap, typed === "" ? "" : Number(typed), code[cap] ?? "");
  }
  const amount = minor(data.get("minSubtotal"));
  const currency =
    code.minSubtotal?.currency ?? (typeof code.value === "object" ? code.value.currency : null) ?? "USD";
  if (amount !== (code.minSubtotal?.amount ?? "")) {
    patch.minSubtotal = amount === "" ? null : { amount, currency };
  }
  if (data.get("status") !== code.status) patch.status = data.get("status");
  return patch;
}

function editPanel(code, reload) {
  const result = outcome("edit-outcome");
  const form = el(
    "form",
    {
      class: "filters",
      "data-testid": "edit-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const patch = patchOf(code, new FormData(event.target));
        if (Object.keys(patch).length === 0) return result.show("Nothing changed.");
        try {
          await api("PATCH", `/v1/admin/discounts/${encodeURIComponent(code.code)}`, { body: patch });
          await reload("Saved.");
        } catch (error) {
          fieldErrors(form, error);
          if (error.status === 503)
            result.show(`Not finished: ${error.message} Press Save again to repeat it.`, "error");
          else if (error.status === 400) result.show(`Refused, nothing changed: ${error.message}`, "error");
          else result.fail(error);
        }
      },
    },
    at(
      "startsAt",
      field("Starts", { name: "startsAt", type: "datetime-local", value: localInput(code.startsAt) }),
    ),
    at("endsAt", field("Ends", { name: "endsAt", type: "datetime-local", value: localInput(code.endsAt) })),
    code.batch
      ? null
      : at(
          "maxUses",
          field("Uses in all (cap)", {
            name: "maxUses",
            type: "number",
            value: code.maxUses ?? "",
            "data-testid": "edit-max-uses",
          }),
        ),
    at(
      "maxUsesPerCustomer",
      field("Uses per customer", {
        name: "maxUsesPerCustomer",
        type: "number",
        value: code.maxUsesPerCustomer ?? "",
        "data-testid": "edit-per-customer",
      }),
    ),
    at(
      "minSubtotal",
      field("Minimum subtotal", {
        name: "minSubtotal",
        inputmode: "decimal",
        value: code.minSubtotal ? (code.minSubtotal.amount / 100).toFixed(2) : "",
      }),
    ),
    at(
      "status",
      choice(
        "Status",
        "status",
        [
          ["active", "active"],
          ["disabled", "disabled"],
        ],
        code.status,
      ),
    ),
    el("button", { type: "submit", class: "primary", "data-testid": "edit-save" }, "Save"),
  );
  return el(
    "section",
    { class: "panel" },
    el("h2", {}, "Change"),
    el(
      "p",
      { class: "muted" },
      "A cap can be lowered or raised, not added to a code made without it nor removed. Others see a change within 30 s.",
    ),
    form,
    result,
  );
}

function usagePanel(usage) {
  if (usage instanceof Error) return el("p", { class: "outcome", "data-tone": "error" }, usage.message);
  const o = usage.orders;
  return [
    facts(
      [
        [
          "Orders",
          `${o.paid} paid · ${o.pending_payment} awaiting payment · ${o.payment_failed} failed · ${o.cancelled} cancelled`,
        ],
        usage.codesUsed === undefined ? null : ["Codes used", String(usage.codesUsed)],
        ["Counted since", when(usage.since)],
      ],
      "code-usage",
    ),
    usage.byCurrency.length === 0
      ? el("p", { class: "muted" }, "No paid order carries it yet.")
      : scrollTable(
          "Paid orders",
          ["currency", "orders", "revenue", "discount given", "refunded"],
          usage.byCurrency.map((c) => [
            c.currency,
            String(c.paidOrders),
            money(c.revenue),
            money(c.discountGiven),
            money(c.refunded),
          ]),
          "code-revenue",
        ),
  ];
}

export async function discountScreen(name, message) {
  const status = outcome("discount-outcome");
  app.replaceChildren(nav(), el("h1", {}, "Discount code"), status);
  const path = `/v1/admin/discounts/${encodeURIComponent(name)}`;
  let code;
  let usage;
  try {
    [code, usage] = await Promise.all([
      api("GET", path),
      api("GET", `${path}/usage`).catch((error) => error),
    ]);
  } catch (error) {
    status.fail(error);
    return;
  }
  if (message) status.show(message);
  const reload = (said) => discountScreen(code.code, said);
  const result = outcome("download-outcome");
  app.replaceChildren(
    nav(),
    el("h1", {}, "Discount code ", el("span", { class: "mono", "data-testid": "code-name" }, code.code)),
    status,
    facts(
      [
        ["Offer", offerOf(code)],
        ["Applies to", scopeOf(code)],
        ["Status", code.status],
        ["Window", `${when(code.startsAt) || "from its creation"} – ${when(code.endsAt) || "no end"}`],
        ["Minimum subtotal", money(code.minSubtotal)],
        ["Cap", code.batch ? "each code once" : String(code.maxUses ?? "none")],
        ["Per customer", String(code.maxUsesPerCustomer ?? "no limit")],
        ["Uses", usesOf(code.uses, code)],
        code.batch ? ["Batch", `${code.batch.count} codes ${code.code}-…`] : null,
        ["Created", when(code.createdAt)],
        ["Changed", when(code.updatedAt)],
      ],
      "code-facts",
    ),
    code.batch
      ? el(
          "p",
          {},
          el(
            "button",
            {
              type: "button",
              "data-testid": "code-download",
              onclick: async () => {
                try {
                  result.show(
                    `Downloaded ${await download(code.batch.codes, `${code.code.toLowerCase()}-codes.csv`)}.`,
                  );
                } catch (error) {
                  result.fail(error);
                }
              },
            },
            "Download the codes (CSV)",
          ),
          result,
        )
      : "",
    el("section", { class: "panel" }, el("h2", {}, "Usage"), usagePanel(usage)),
    editPanel(code, reload),
  );
}
