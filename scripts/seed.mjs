import { demoCatalog } from "./demo-catalog.mjs";

/**
 * Seeds the demo catalog through the admin API, so the seed passes the same validation and cache
 * invalidation as any admin write. Does nothing when the catalog already has products.
 */
export async function seedIfEmpty(baseUrl, adminToken, log = console.log) {
  const probe = await fetch(`${baseUrl}/v1/products?limit=1`);
  if (!probe.ok) throw new Error(`catalog probe answered ${probe.status}`);
  if ((await probe.json()).items.length > 0) return { seeded: false };

  const headers = { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" };
  let products = 0;
  let skus = 0;
  for (const { variants, ...product } of demoCatalog()) {
    const created = await fetch(`${baseUrl}/v1/admin/products`, {
      method: "POST",
      headers,
      body: JSON.stringify({ ...product, variants: variants.map(({ stock, ...variant }) => variant) }),
    });
    // A slug taken by an earlier, interrupted seed is kept as it is.
    if (created.status !== 201 && created.status !== 409) {
      throw new Error(`creating ${product.slug} answered ${created.status}: ${await created.text()}`);
    }
    if (created.status === 201) products++;
    for (const { sku, stock } of variants) {
      const stocked = await fetch(`${baseUrl}/v1/admin/inventory/${encodeURIComponent(sku)}`, {
        method: "PUT",
        headers,
        body: JSON.stringify({ onHand: stock }),
      });
      if (!stocked.ok) throw new Error(`stocking ${sku} answered ${stocked.status}: ${await stocked.text()}`);
      skus++;
    }
  }
  log(`seeded ${products} products and stock for ${skus} SKUs`);
  return { seeded: true, products, skus };
}
