// Writes a catalog to a Stampede deployment through its admin API, so every product passes the same
// validation and cache invalidation as any admin write. A catalog is a list of products in the
// shape of `POST /v1/admin/products`, each variant with an optional `stock` (units on hand).

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Where and as whom: `--target URL` (default the local shop) and the admin token from `ADMIN_TOKEN`
 * in the environment (`--admin-token T` still works, but leaves the token in the shell's history and
 * the process list). The token goes only over https, or in plain http to this machine; a local
 * target has the local default token, another one none (adminToken undefined).
 */
export function targetOf(values, warn = console.warn) {
  const target = (values.target ?? "http://localhost:8787").replace(/\/+$/, "");
  const url = URL.canParse(target) ? new URL(target) : null;
  const local = url !== null && LOCAL_HOSTS.has(url.hostname);
  if (!url || !(url.protocol === "https:" || (url.protocol === "http:" && local))) {
    throw new Error(
      `refusing to send the admin token to ${target}: the target must be https (plain http only for localhost)`,
    );
  }
  if (values["admin-token"] !== undefined) {
    warn("--admin-token leaves the token in your shell history and the process list; prefer ADMIN_TOKEN=…");
  }
  const adminToken =
    values["admin-token"] || process.env.ADMIN_TOKEN || (local ? "dev-admin-token" : undefined);
  return { target, adminToken };
}

/** The admin token for a script that writes, or why there is none. */
export function requireToken({ target, adminToken }) {
  if (!adminToken) throw new Error(`set ADMIN_TOKEN in the environment to write to ${target}`);
  return adminToken;
}

/** A problem document as a person reads it: its code and detail, then each field's complaint. */
function answerOf(body) {
  if (!body?.code) return JSON.stringify(body);
  const fields = (body.errors ?? []).map((error) => `${error.path}: ${error.message}`);
  return [`${body.code}: ${body.detail}`, ...fields].join("; ");
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
        `${product.slug}: ${written.status} ${answerOf(written.body)} (nothing after it was written; a re-run replaces what was)`,
      );
    }
    tally[written.status === 201 ? "created" : "replaced"]++;
    for (const { sku, stock } of variants) {
      if (stock === undefined) continue;
      const stocked = await api(target, adminToken, "PUT", `/v1/admin/inventory/${encodeURIComponent(sku)}`, {
        onHand: stock,
      });
      if (stocked.status !== 200)
        throw new Error(`stock of ${sku}: ${stocked.status} ${answerOf(stocked.body)}`);
      tally.stocked++;
    }
  }
  log(`${tally.created} products created, ${tally.replaced} replaced, stock set for ${tally.stocked} SKUs`);
  return tally;
}
