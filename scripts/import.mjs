#!/usr/bin/env node
// `ADMIN_TOKEN=… npm run import -- catalog.csv [--target URL] [--dry-run]`: a real catalog from a
// spreadsheet. One row per variant; rows with the same slug make one product (its product columns
// are taken from its first row). Columns, in a header row, in any order:
//   slug, title, description, category, images (space-separated URLs), sku, variant_title, price
//   (decimal, e.g. 24.90), currency (ISO 4217), stock (units on hand, optional), attributes
//   (optional, `key=value; key=value`)
// Every row is checked before anything is written, and every problem of every row is listed at once,
// each naming its line and SKU; a product that exists (same slug) is replaced.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { requireToken, targetOf, uploadCatalog } from "./catalog-upload.mjs";

/**
 * RFC 4180: commas, CRLF or LF line ends, fields quoted with `"` (a `""` inside is one quote); a
 * quote inside an unquoted field is an ordinary character. Throws on a quote left open.
 */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  let atFieldStart = true;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
      continue;
    }
    if (char === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
      continue;
    }
    atFieldStart = char === "," || char === "\n" || char === "\r";
    if (char === '"') field += char;
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
  if (quoted) throw new Error(`a quoted field opened on line ${rows.length + 1} is never closed`);
  row.push(field);
  if (row.some((value) => value !== "")) rows.push(row);
  return rows;
}

const REQUIRED = ["slug", "title", "category", "sku", "price", "currency"];
// The rules the admin API applies to a product, checked here first so a bad row stops the import
// before anything is written.
const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const SKU = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CURRENCY = /^[A-Z]{3}$/;
/** Prices are kept in hundredths; currencies with another number of decimals are not sold here. */
const NOT_TWO_DECIMALS = new Set(
  "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF BHD IQD JOD KWD LYD OMR TND".split(
    " ",
  ),
);

/** The products of a CSV text, or the list of what is wrong with it (line by line). */
export function catalogFromCsv(text) {
  let parsed;
  try {
    parsed = parseCsv(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    return { errors: [error.message] };
  }
  const [header = [], ...rows] = parsed;
  const columns = header.map((name) => name.trim().toLowerCase());
  const missing = REQUIRED.filter((name) => !columns.includes(name));
  if (missing.length > 0) return { errors: [`header: missing column(s) ${missing.join(", ")}`] };
  const errors = [];
  const products = new Map();
  const skuLines = new Map();
  rows.forEach((cells, index) => {
    const line = index + 2;
    const cell = (name) => (cells[columns.indexOf(name)] ?? "").trim();
    const slug = cell("slug");
    const sku = cell("sku");
    // Every problem of the row, each naming the SKU (or, without one, the slug) it is about.
    const about = sku ? `sku "${sku}"` : slug ? `slug "${slug}"` : "";
    const problems = [];
    const check = (ok, problem) => {
      if (!ok) problems.push(problem);
    };
    for (const name of REQUIRED) check(cell(name) !== "", `${name} is empty`);
    const currency = cell("currency").toUpperCase();
    if (currency !== "")
      check(
        CURRENCY.test(currency) && !NOT_TWO_DECIMALS.has(currency),
        `currency "${cell("currency")}" is not one with two decimals (such as USD or EUR)`,
      );
    const price = cell("price");
    if (price !== "")
      check(/^\d+(\.\d{1,2})?$/.test(price), `price "${price}" is not an amount such as 12.50`);
    const stockText = cell("stock");
    check(stockText === "" || /^\d+$/.test(stockText), `stock "${stockText}" is not a whole number`);
    const attributes = {};
    for (const pair of cell("attributes")
      .split(";")
      .map((p) => p.trim())
      .filter(Boolean)) {
      const at = pair.indexOf("=");
      if (at <= 0) problems.push(`attribute "${pair}" is not key=value`);
      else attributes[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
    }
    if (slug !== "")
      check(SLUG.test(slug) && slug.length <= 100, `slug "${slug}" is not lowercase words joined by "-"`);
    if (cell("category") !== "")
      check(
        SLUG.test(cell("category")),
        `category "${cell("category")}" is not lowercase words joined by "-"`,
      );
    if (sku !== "") {
      check(
        SKU.test(sku) && sku.length <= 64,
        `sku "${sku}" may hold letters, digits, ".", "_" and "-" only`,
      );
      check(!skuLines.has(sku), `sku "${sku}" is on line ${skuLines.get(sku)} too`);
      if (!skuLines.has(sku)) skuLines.set(sku, line);
    }
    check(cell("title").length <= 200, "title is over 200 characters");
    for (const url of cell("images").split(/\s+/).filter(Boolean))
      check(/^https?:\/\/\S+$/.test(url), `image "${url}" is not an http(s) URL`);
    if (problems.length > 0) {
      for (const problem of problems) errors.push(`line ${line}${about ? ` (${about})` : ""}: ${problem}`);
      return;
    }
    const product = products.get(slug) ?? {
      slug,
      title: cell("title"),
      description: cell("description"),
      category: cell("category"),
      images: cell("images").split(/\s+/).filter(Boolean),
      variants: [],
    };
    const [units, cents = ""] = price.split(".");
    const decimals = 2;
    product.variants.push({
      sku,
      title: cell("variant_title") || sku,
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
    console.error("usage: ADMIN_TOKEN=… npm run import -- catalog.csv [--target URL] [--dry-run]");
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
  const where = targetOf(values);
  await uploadCatalog(where.target, requireToken(where), parsed.products);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error) => {
    console.error(`import failed: ${error.message}`);
    process.exit(1);
  });
}
