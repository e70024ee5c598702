import { z } from "zod";
import { database } from "../db/client";
import { csvRow, parseCsv } from "../shared/csv";
import { AppError } from "../shared/errors";
import type { FulfillRow } from "./after-sale.args";
import { unshipped } from "./lifecycle/after-sale";
import { exportPage, type OrderFilter } from "./orders.storage";
import { orderShard, shardOfOrder } from "./shards";

/** Rows one import may hold. */
const MAX_IMPORT_ROWS = 10_000;

export type ImportRowReport = {
  row: number;
  orderId: string;
  outcome: "made" | "replayed" | "refused" | "not_found" | "invalid" | "would_make" | "rolled_back";
  detail?: string;
  fulfillmentId?: string;
};

const HEADERS: Record<string, keyof RawRow> = {
  order_id: "orderId",
  orderid: "orderId",
  order: "orderId",
  lines: "lines",
  carrier: "carrier",
  tracking_number: "trackingNumber",
  trackingnumber: "trackingNumber",
  tracking: "trackingNumber",
  tracking_url: "trackingUrl",
  trackingurl: "trackingUrl",
};
type RawRow = {
  orderId: string;
  lines: string;
  carrier: string;
  trackingNumber: string;
  trackingUrl: string;
};

/** `all` (or empty) for everything left to ship; otherwise `SKU:quantity` pairs separated by `;`. */
function linesOf(text: string): { sku: string; quantity: number }[] | null | "invalid" {
  const value = text.trim();
  if (value === "" || value.toLowerCase() === "all") return null;
  const lines = value.split(";").map((part) => /^\s*([^:;\s]{1,64})\s*:\s*(\d{1,4})\s*$/.exec(part));
  if (lines.some((match) => !match || Number(match[2]) < 1 || Number(match[2]) > 1000)) return "invalid";
  return lines.map((match) => ({ sku: match?.[1] as string, quantity: Number(match?.[2]) }));
}

const Row = z.object({
  orderId: z.string().trim().min(1, "order_id is empty").max(64),
  carrier: z.string().trim().min(1, "carrier is empty").max(100),
  trackingNumber: z.string().trim().min(1, "tracking_number is empty").max(100),
  trackingUrl: z
    .string()
    .trim()
    .max(2000)
    .refine((url) => url === "" || /^https?:\/\//i.test(url), "tracking_url must be an http(s) URL")
    .refine((url) => url === "" || URL.canParse(url), "tracking_url is not a URL"),
});

/** Reads a fulfilment CSV: every problem of every row at once, and the rows that are well formed. */
function readImport(text: string): { rows: FulfillRow[]; problems: ImportRowReport[] } {
  const table = parseCsv(text);
  const header = (table[0] ?? []).map((cell) =>
    cell
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, "_"),
  );
  const columns = header.map((name) => HEADERS[name] ?? null);
  const missing = ["orderId", "carrier", "trackingNumber"].filter(
    (name) => !columns.includes(name as keyof RawRow),
  );
  if (missing.length > 0) {
    throw new AppError("fulfillment_import_invalid", {
      detail: `The first line must name the columns: order_id, lines, carrier, tracking_number, tracking_url (missing: ${missing.join(", ")})`,
    });
  }
  const body = table.slice(1);
  if (body.length > MAX_IMPORT_ROWS) {
    throw new AppError("fulfillment_import_invalid", { detail: `At most ${MAX_IMPORT_ROWS} rows per file` });
  }
  const rows: FulfillRow[] = [];
  const problems: ImportRowReport[] = [];
  body.forEach((cells, index) => {
    const row = index + 2;
    const raw: RawRow = { orderId: "", lines: "", carrier: "", trackingNumber: "", trackingUrl: "" };
    columns.forEach((column, at) => {
      if (column) raw[column] = cells[at] ?? "";
    });
    const checked = Row.safeParse(raw);
    const lines = linesOf(raw.lines);
    const faults = [
      ...(checked.success ? [] : checked.error.issues.map((issue) => issue.message)),
      ...(lines === "invalid"
        ? ["lines must be `all` or SKU:quantity pairs (1 to 1000) separated by `;`"]
        : []),
    ];
    if (faults.length > 0 || !checked.success || lines === "invalid") {
      problems.push({ row, orderId: raw.orderId.trim(), outcome: "invalid", detail: faults.join("; ") });
      return;
    }
    const { orderId, carrier, trackingNumber, trackingUrl } = checked.data;
    rows.push({
      row,
      orderId,
      carrier,
      trackingNumber,
      ...(trackingUrl ? { trackingUrl } : {}),
      ...(lines ? { lines } : {}),
    });
  });
  return { rows, problems };
}

/**
 * Applies a fulfilment CSV: every row is checked (well formed, its order found, paid, its lines left to
 * ship) before anything is written; with a problem anywhere, nothing is, and every problem is listed.
 * Applying the same file again changes nothing: a fulfilment with the same carrier and tracking number
 * on the same order is the one already made (`replayed`).
 */
export async function importFulfillments(env: Env, text: string, dryRun: boolean) {
  const read = readImport(text);
  const { problems } = read;
  const { rows, alsoIn } = parcels(read.rows);
  const byShard = new Map<number, FulfillRow[]>();
  for (const row of rows) {
    const shard = shardOfOrder(env, row.orderId);
    if (shard === null) {
      problems.push({
        row: row.row,
        orderId: row.orderId,
        outcome: "not_found",
        detail: `No order ${row.orderId}`,
      });
      continue;
    }
    byShard.set(shard, [...(byShard.get(shard) ?? []), row]);
  }
  const run = async (apply: boolean) =>
    (
      await Promise.all(
        [...byShard].map(
          ([shard, group]) => orderShard(env, shard).fulfilMany(group, apply) as Promise<ImportRowReport[]>,
        ),
      )
    ).flat();
  // Each parcel's report answers for every row it was made from.
  const expand = (reports: ImportRowReport[]) =>
    reports.flatMap((report) => [
      report,
      ...(alsoIn.get(report.row) ?? []).map((row) => ({ ...report, row })),
    ]);
  const checked = expand(await run(false));
  const refused = [
    ...problems,
    ...checked.filter((report) => report.outcome === "refused" || report.outcome === "not_found"),
  ];
  const ordered = (reports: ImportRowReport[]) => reports.sort((a, b) => a.row - b.row);
  if (refused.length > 0) {
    throw new AppError("fulfillment_import_invalid", {
      detail: `${refused.length} of ${rows.length + problems.length} rows cannot be applied; nothing was written`,
      extensions: { rows: ordered(refused) },
    });
  }
  if (dryRun) {
    const reports = checked.map((report) =>
      report.outcome === "made"
        ? { ...report, outcome: "would_make" as const, fulfillmentId: undefined }
        : report,
    );
    return summary(ordered(reports), true);
  }
  const applied = expand(await run(true));
  const undone = applied.filter((report) => report.outcome !== "made" && report.outcome !== "replayed");
  if (undone.length > 0) {
    // Orders changed between the check and the writes (a refund, a cancel): those orders' shards wrote
    // nothing of the file; others did. Applying the file again finishes it (rows made answer replayed).
    throw new AppError("fulfillment_import_invalid", {
      detail: `${undone.length} rows could not be applied: their orders changed since the check, and nothing of those orders' rows was written; fix them and apply the file again (rows already applied answer replayed)`,
      extensions: { rows: ordered(applied) },
    });
  }
  return summary(ordered(applied), false);
}

/**
 * Rows of one parcel (the same order, carrier and tracking number, one row per line, as warehouses
 * often write them) are one fulfilment: their lines together, or everything left if any says `all`.
 * Answers the parcels, and for each the other rows it stands for.
 */
function parcels(rows: FulfillRow[]): { rows: FulfillRow[]; alsoIn: Map<number, number[]> } {
  const byParcel = new Map<string, FulfillRow>();
  const alsoIn = new Map<number, number[]>();
  for (const row of rows) {
    const key = JSON.stringify([row.orderId, row.carrier, row.trackingNumber]);
    const first = byParcel.get(key);
    if (!first) {
      byParcel.set(key, { ...row });
      continue;
    }
    alsoIn.set(first.row, [...(alsoIn.get(first.row) ?? []), row.row]);
    if (!first.lines || !row.lines) delete first.lines;
    else first.lines = [...first.lines, ...row.lines];
    if (!first.trackingUrl && row.trackingUrl) first.trackingUrl = row.trackingUrl;
  }
  return { rows: [...byParcel.values()], alsoIn };
}

function summary(rows: ImportRowReport[], dryRun: boolean) {
  const count = (outcome: ImportRowReport["outcome"]) => rows.filter((row) => row.outcome === outcome).length;
  return {
    dryRun,
    made: count("made"),
    wouldMake: count("would_make"),
    replayed: count("replayed"),
    refused: count("refused") + count("not_found"),
    rows,
  };
}

const EXPORT_PAGE = 100;
const EXPORT_COLUMNS = [
  "order_id",
  "created_at",
  "status",
  "fulfillment_status",
  "email",
  "customer_name",
  "ship_name",
  "ship_line1",
  "ship_line2",
  "ship_city",
  "ship_region",
  "ship_postal_code",
  "ship_country",
  "sku",
  "title",
  "quantity",
  "to_ship",
  "unit_price",
  "currency",
];

/**
 * The warehouse's export: one CSV row per order line with its shipping address, streamed page by page
 * from D1 (a page of orders read only when the reader wants more), oldest first.
 */
export function exportOrders(env: Env, filter: OrderFilter): ReadableStream<Uint8Array> {
  const db = database(env.DB);
  const encoder = new TextEncoder();
  let after: string | null = null;
  let header = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let out = header ? csvRow(EXPORT_COLUMNS) : "";
      header = false;
      const page = await exportPage(db, filter, after, EXPORT_PAGE);
      for (const { order } of page) {
        // A paid order the shop cancelled ships nothing.
        if (order.cancelledAt) continue;
        const to = order.shippingAddress;
        const left = new Map(unshipped(order).map((line) => [line.sku, line.quantity]));
        for (const item of order.items) {
          out += csvRow([
            order.id,
            order.createdAt,
            order.status,
            order.fulfillmentStatus,
            order.customer.email,
            order.customer.name,
            to?.name,
            to?.line1,
            to?.line2,
            to?.city,
            to?.region,
            to?.postalCode,
            to?.country,
            item.sku,
            item.title,
            item.quantity,
            left.get(item.sku) ?? 0,
            item.unitPrice.amount,
            item.unitPrice.currency,
          ]);
        }
      }
      if (out) controller.enqueue(encoder.encode(out));
      after = page.at(-1)?.order.id ?? after;
      if (page.length < EXPORT_PAGE) controller.close();
    },
  });
}
