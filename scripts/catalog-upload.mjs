// Writes a catalog to a Stampede deployment through its admin API, so every product passes the same
// validation and cache invalidation as any admin write. A catalog is a list of products in the
// shape of `POST /v1/admin/products`, each variant with an optional `stock` (units on hand).

/** Where and as whom: `--target URL` and `--admin-token T` (or ADMIN_TOKEN), local defaults otherwise. */
export function targetOf(values) {
  const target = (values.target ?? "http://localhost:8787").replace(/\/+$/, "");
  const adminToken = values["admin-token"] ?? process.env.ADMIN_TOKEN ?? "dev-admin-token";
  return { target, adminToken };
}

async function api(target, adminToken, method, path, body) {
  const response = await fetch(`${target}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/**
 * Creates each product, or replaces the one with its slug; then sets the stock of every variant that
 * names one. Stops at the first refusal, saying which product and why (nothing after it is written).
 */
export async function uploadCatalog(target, adminToken, products, log = console.log) {
  const tally = { created: 0, replaced: 0, stocked: 0 };
  for (const { variants, ...product } of products) {
    const input = { ...product, variants: variants.map(({ stock, ...variant }) => variant) };
    const existing = await api(target, adminToken, "GET", `/v1/products/${encodeURIComponent(product.slug)}`);
    const written =
      existing.status === 200
        ? await api(target, adminToken, "PUT", `/v1/admin/products/${existing.body.id}`, input)
        : await api(target, adminToken, "POST", "/v1/admin/products", input);
    if (written.status === 409 && written.body?.code === "slug_taken") {
      throw new Error(
        `${product.slug}: the slug belongs to an archived product; give this one another slug (nothing after it was written)`,
      );
    }
    if (written.status !== 200 && written.status !== 201) {
      throw new Error(
        `${product.slug}: ${written.status} ${JSON.stringify(written.body)} (nothing after it was written; a re-run replaces what was)`,
      );
    }
    tally[written.status === 201 ? "created" : "replaced"]++;
    for (const { sku, stock } of variants) {
      if (stock === undefined) continue;
      const stocked = await api(target, adminToken, "PUT", `/v1/admin/inventory/${encodeURIComponent(sku)}`, {
        onHand: stock,
      });
      if (stocked.status !== 200)
        throw new Error(`stock of ${sku}: ${stocked.status} ${JSON.stringify(stocked.body)}`);
      tally.stocked++;
    }
  }
  log(`${tally.created} products created, ${tally.replaced} replaced, stock set for ${tally.stocked} SKUs`);
  return tally;
}
