// /admin/fulfillments: ship many orders from a CSV (every row checked in a dry run before anything
// is written, then applied; both show each row's outcome), and the export a warehouse picks from.
import { api, choice, download, field, nav, outcome, scrollTable } from "./admin-api.js";
import { app, el } from "./ui.js";

const HEADER = "order_id,lines,carrier,tracking_number,tracking_url";

function report(result) {
  const counts = result.dryRun
    ? `Dry run: ${result.wouldMake} would ship, ${result.replayed} already shipped, ${result.refused} refused. Nothing was written.`
    : `Applied: ${result.made} shipped, ${result.replayed} already shipped (unchanged), ${result.refused} refused.`;
  return [
    el("p", { "data-testid": "import-summary" }, counts),
    scrollTable(
      "Every row",
      ["line", "order", "outcome", "detail"],
      result.rows.map((row) => [
        String(row.row),
        row.orderId,
        row.outcome.replaceAll("_", " "),
        row.detail ?? row.fulfillmentId ?? "",
      ]),
      "import-rows",
    ),
  ];
}

/** The API's refusal of a whole file lists each bad row in `rows`. */
function invalidRows(error) {
  const rows = error.problem?.rows;
  if (!Array.isArray(rows)) return [];
  return [
    scrollTable(
      "Rows to fix (nothing was written)",
      ["line", "order", "outcome", "detail"],
      rows.map((row) => [
        String(row.row ?? ""),
        row.orderId ?? "",
        String(row.outcome ?? "").replaceAll("_", " "),
        row.detail ?? "",
      ]),
      "import-invalid",
    ),
  ];
}

function importPanel() {
  const result = outcome("import-outcome");
  const details = el("div", { "data-testid": "import-report" });
  let checked = null;
  const apply = el(
    "button",
    { type: "button", class: "primary", disabled: true, "data-testid": "import-apply" },
    "Apply",
  );
  const file = el("input", {
    id: "csv-file",
    type: "file",
    accept: ".csv,text/csv",
    "data-testid": "import-file",
  });
  const text = el("textarea", {
    id: "csv-text",
    rows: 6,
    placeholder: HEADER,
    "data-testid": "import-text",
    spellcheck: "false",
  });
  file.addEventListener("change", async () => {
    text.value = file.files?.[0] ? await file.files[0].text() : text.value;
    checked = null;
    apply.disabled = true;
  });
  text.addEventListener("input", () => {
    checked = null;
    apply.disabled = true;
  });
  const send = async (dryRun) => {
    const csv = text.value;
    try {
      const answer = await api("POST", `/v1/admin/fulfillments/import?dryRun=${dryRun}`, { body: csv });
      details.replaceChildren(...report(answer));
      result.show(dryRun ? "Checked. Apply to ship the rows that would ship." : "Applied.");
      checked = dryRun ? csv : null;
      apply.disabled = !dryRun || answer.wouldMake === 0;
    } catch (error) {
      details.replaceChildren(...invalidRows(error));
      result.fail(error);
      apply.disabled = true;
    }
  };
  apply.addEventListener("click", () => {
    if (checked === text.value) send(false);
  });
  return el(
    "section",
    { class: "panel" },
    el("h2", {}, "Ship from a file"),
    el("p", { class: "muted" }, `Columns: ${HEADER}. Lines: all, or SKU:qty;SKU:qty.`),
    el("label", { for: "csv-file" }, "CSV file"),
    file,
    el("label", { for: "csv-text" }, "or paste it"),
    text,
    el(
      "div",
      { class: "actions" },
      el(
        "button",
        { type: "button", "data-testid": "import-check", onclick: () => send(true) },
        "Check (dry run)",
      ),
      apply,
    ),
    result,
    details,
  );
}

function exportPanel() {
  const result = outcome("export-outcome");
  const form = el(
    "form",
    {
      class: "filters",
      onsubmit: async (event) => {
        event.preventDefault();
        const query = new URLSearchParams();
        for (const [name, value] of new FormData(event.target)) {
          if (!value) continue;
          query.set(name, name === "since" ? new Date(String(value)).toISOString() : String(value));
        }
        try {
          const name = await download(`/v1/admin/orders/export?${query}`, "orders.csv");
          result.show(`Downloaded ${name}.`);
        } catch (error) {
          result.fail(error);
        }
      },
    },
    choice(
      "Status",
      "status",
      [
        ["paid", "paid"],
        ["", "any"],
        ["cancelled", "cancelled"],
      ],
      "paid",
    ),
    choice(
      "Fulfilment",
      "fulfillment",
      [
        ["unfulfilled", "unfulfilled"],
        ["partially_fulfilled", "partially fulfilled"],
        ["fulfilled", "fulfilled"],
        ["", "any"],
      ],
      "unfulfilled",
    ),
    field("Created since", { name: "since", type: "date" }),
    el("button", { type: "submit", class: "primary", "data-testid": "export-download" }, "Download CSV"),
  );
  return el("section", { class: "panel" }, el("h2", {}, "Export for the warehouse"), form, result);
}

export async function fulfillmentsScreen() {
  app.replaceChildren(nav(), el("h1", {}, "Fulfilment CSV"), importPanel(), exportPanel());
}
