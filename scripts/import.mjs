#!/usr/bin/env node
// `npm run import -- catalog.csv [--target URL] [--admin-token T] [--dry-run]`: a real catalog from a
// spreadsheet. One row per variant; rows with the same slug make one product (its product columns
// are taken from its first row). Columns, in a header row, in any order:
//   slug, title, description, category, images (space-separated URLs), sku, variant_title, price
//   (decimal, e.g. 24.90), currency (ISO 4217), stock (units on hand, optional), attributes
//   (optional, `key=value; key=value`)
// Every row is checked before anything is written; a product that exists (same slug) is replaced.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { targetOf, uploadCatalog } from "./catalog-upload.mjs";

/** RFC 4180: commas, quoted fields with "" for a quote, CRLF or LF line ends. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") {
      row.push(field);
      field = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      if (row.some((value) => value !== "")) rows.push(row);
      row = [];
      field = "";
    } else field += char;
  }
  row.push(field);
  if (row.some((value) => value !== "")) rows.push(row);
  return rows;
}

const REQUIRED = ["slug", "title", "category", "sku", "price", "currency"];
/** Currencies with no minor unit: their prices are whole numbers. */
const ZERO_DECIMAL = new Set(["JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "UGX", "XAF", "XOF"]);

/** The products of a CSV text, or the list of what is wrong with it (line by line). */
export function catalogFromCsv(text) {
  const [header = [], ...rows] = parseCsv(text.replace(/^\uFEFF/, ""));
  const columns = header.map((name) => name.trim().toLowerCase());
  const missing = REQUIRED.filter((name) => !columns.includes(name));
  if (missing.length > 0) return { errors: [`header: missing column(s) ${missing.join(", ")}`] };
  const errors = [];
  const products = new Map();
  rows.forEach((cells, index) => {
    const line = index + 2;
    const cell = (name) => (cells[columns.indexOf(name)] ?? "").trim();
    const currency = cell("currency").toUpperCase();
    const decimals = ZERO_DECIMAL.has(currency) ? 0 : 2;
    const price = cell("price");
    const amount = decimals === 0 ? /^\d+$/ : /^\d+(\.\d{1,2})?$/;
    if (!amount.test(price)) {
      errors.push(`line ${line}: price "${price}" is not an amount in ${currency || "the currency"}`);
      return;
    }
    const stockText = cell("stock");
    if (stockText !== "" && !/^\d+$/.test(stockText)) {
      errors.push(`line ${line}: stock "${stockText}" is not a whole number`);
      return;
    }
    const attributes = {};
    for (const pair of cell("attributes")
      .split(";")
      .map((p) => p.trim())
      .filter(Boolean)) {
      const at = pair.indexOf("=");
      if (at <= 0) {
        errors.push(`line ${line}: attribute "${pair}" is not key=value`);
        return;
      }
      attributes[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
    }
    for (const name of REQUIRED) {
      if (cell(name) === "") {
        errors.push(`line ${line}: ${name} is empty`);
        return;
      }
    }
    const slug = cell("slug");
    const product = products.get(slug) ?? {
      slug,
      title: cell("title"),
      description: cell("description"),
      category: cell("category"),
      images: cell("images").split(/\s+/).filter(Boolean),
      variants: [],
    };
    const [units, cents = ""] = price.split(".");
    product.variants.push({
      sku: cell("sku"),
      title: cell("variant_title") || cell("sku"),
      price: { amount: Number(units) * 10 ** decimals + Number(cents.padEnd(decimals, "0") || 0), currency },
      attributes,
      ...(stockText === "" ? {} : { stock: Number(stockText) }),
    });
    products.set(slug, product);
  });
  return errors.length > 0 ? { errors } : { products: [...products.values()] };
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      target: { type: "string" },
      "admin-token": { type: "string" },
      "dry-run": { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) {
    console.error("usage: npm run import -- catalog.csv [--target URL] [--admin-token T] [--dry-run]");
    process.exit(2);
  }
  const parsed = catalogFromCsv(readFileSync(positionals[0], "utf8"));
  if (parsed.errors) {
    for (const error of parsed.errors) console.error(error);
    console.error(`nothing imported: ${parsed.errors.length} problem(s) in ${positionals[0]}`);
    process.exit(1);
  }
  const variants = parsed.products.reduce((n, p) => n + p.variants.length, 0);
  console.log(`${positionals[0]}: ${parsed.products.length} products, ${variants} variants`);
  if (values["dry-run"]) return;
  const { target, adminToken } = targetOf(values);
  await uploadCatalog(target, adminToken, parsed.products);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error) => {
    console.error(`import failed: ${error.message}`);
    process.exit(1);
  });
}
