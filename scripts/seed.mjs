#!/usr/bin/env node
// `ADMIN_TOKEN=… npm run seed -- [--target URL] [--catalog catalog.json] [--force]`: fills an
// empty shop with the demo catalog (or the products of a catalog file, in the shape of
// `{ "products": [ ...POST /v1/admin/products bodies, each variant with an optional "stock" ] }`).
// A shop that already has products is left alone unless --force.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { requireToken, targetOf, uploadCatalog } from "./catalog-upload.mjs";
import { demoCatalog } from "./demo-catalog.mjs";

/** The demo images are served by the shop itself, at the origin it is seeded through. */
const publicOrigin = (baseUrl) => new URL(baseUrl).origin;

async function isEmpty(baseUrl) {
  const probe = await fetch(`${baseUrl}/v1/products?limit=1`);
  if (!probe.ok) throw new Error(`catalog probe answered ${probe.status}`);
  return (await probe.json()).items.length === 0;
}

/** Seeds the demo catalog when the catalog is empty (`npm start`, the load tests). */
export async function seedIfEmpty(baseUrl, adminToken, log = console.log) {
  if (!(await isEmpty(baseUrl))) return { seeded: false };
  const tally = await uploadCatalog(baseUrl, adminToken, demoCatalog(publicOrigin(baseUrl)), () => {});
  log(`seeded ${tally.created + tally.replaced} products and stock for ${tally.stocked} SKUs`);
  return { seeded: true, products: tally.created, skus: tally.stocked };
}

async function main() {
  const { values } = parseArgs({
    options: {
      target: { type: "string" },
      "admin-token": { type: "string" },
      catalog: { type: "string" },
      force: { type: "boolean", default: false },
    },
  });
  const where = targetOf(values);
  const { target } = where;
  const adminToken = requireToken(where);
  if (!values.force && !(await isEmpty(target))) {
    console.log(
      `${target} already has products; nothing seeded (--force writes over products with the same slugs)`,
    );
    return;
  }
  const products = values.catalog
    ? JSON.parse(readFileSync(values.catalog, "utf8")).products
    : demoCatalog(publicOrigin(target));
  console.log(`seeding ${products.length} products into ${target}...`);
  await uploadCatalog(target, adminToken, products);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error) => {
    console.error(`seed failed: ${error.message}`);
    process.exit(1);
  });
}
