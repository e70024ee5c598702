#!/usr/bin/env node
// `[ADMIN_TOKEN=…] npm run smoke -- --target URL`: after a deploy, proves the deployment answers,
// without buying anything: health (with how it takes payments), the catalog, a product, its stock,
// the API document, a checkout that is refused for its body before anything is held, and with an
// admin token the admin API. Prints one line per check; exits 1 if any fails.
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { targetOf } from "./catalog-upload.mjs";

/**
 * Why a request never got an answer. undici's `fetch failed` says it only in its cause: a system
 * error (ECONNREFUSED...), an AggregateError of one per address tried (localhost: ::1 and 127.0.0.1),
 * or a plain Error ("bad port").
 */
function unreachable(error, target) {
  if (error?.message !== "fetch failed") return null;
  const { host } = new URL(target);
  const causes = error.cause?.errors?.length ? error.cause.errors : [error.cause].filter(Boolean);
  const first = causes[0] ?? {};
  const where = first.address ? `${first.address}:${first.port}` : host;
  switch (first.code) {
    case "ECONNREFUSED":
      return `cannot connect to ${where}: connection refused (ECONNREFUSED); nothing listens there. Is the shop running (npm start), and is the port right?`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot resolve ${first.hostname ?? host} (${first.code}): check the host name in --target`;
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return `no answer from ${where} (${first.code}): a firewall, or the wrong host`;
    case undefined:
      if (first.message === "bad port") {
        return `fetch refuses port ${new URL(target).port} (a port browsers block): serve the shop on another`;
      }
      return `cannot reach ${host}: ${first.message ?? "fetch failed"}`;
    default:
      return `cannot reach ${where}: ${first.message} (${first.code})`;
  }
}

export async function smoke(target, adminToken, { log = console.log, admin = true } = {}) {
  const results = [];
  // The first check that cannot reach the target says why; the others would say the same again.
  let down = null;
  const check = async (name, run) => {
    if (down) {
      results.push({ name, ok: false, error: down });
      return;
    }
    try {
      const detail = await run();
      results.push({ name, ok: true });
      log(`ok    ${name}${detail ? ` (${detail})` : ""}`);
    } catch (error) {
      down = unreachable(error, target);
      const message = down ?? error.message;
      results.push({ name, ok: false, error: message });
      log(`FAIL  ${name}: ${message}`);
      if (down) log(`      (the other checks are skipped: ${target} cannot be reached)`);
    }
  };
  const get = async (path, headers = {}) => {
    const response = await fetch(`${target}${path}`, { headers });
    const body = await response.json().catch(() => null);
    return { response, body };
  };
  const expectStatus = (response, status, body) => {
    if (response.status !== status) {
      throw new Error(
        `answered ${response.status}, expected ${status}: ${JSON.stringify(body)?.slice(0, 300)}`,
      );
    }
  };

  let sku = null;
  await check("GET /health", async () => {
    // With the admin token, /health says why a check fails.
    const { response, body } = await get("/health", admin ? { Authorization: `Bearer ${adminToken}` } : {});
    if (response.status !== 200 && body?.checks) {
      const failing = Object.entries(body.checks).filter(([, c]) => !c.ok);
      const why = (c) => c.error ?? "failed (the reason is told with the admin token)";
      throw new Error(
        `answered ${response.status}: ${failing.map(([name, c]) => `${name}: ${why(c)}`).join("; ")}`,
      );
    }
    expectStatus(response, 200, body);
    const { provider, live } = body.payments;
    return `payments: ${provider}${live ? "" : ", the simulator: no money is taken"}`;
  });
  await check("GET /v1/products", async () => {
    const { response, body } = await get("/v1/products?limit=1");
    expectStatus(response, 200, body);
    if (body.items.length === 0) throw new Error("the catalog is empty: npm run seed or npm run import");
    const product = body.items[0];
    sku = product.variants[0].sku;
    const one = await get(`/v1/products/${encodeURIComponent(product.slug)}`);
    expectStatus(one.response, 200, one.body);
    return `${product.slug}, served from ${one.response.headers.get("X-Cache-Layer") ?? "?"}`;
  });
  await check("GET /v1/inventory/:sku", async () => {
    if (!sku) throw new Error("no SKU to ask about");
    const { response, body } = await get(`/v1/inventory/${encodeURIComponent(sku)}`);
    expectStatus(response, 200, body);
    return `${sku}: ${body.available} available`;
  });
  await check("GET /openapi.json", async () => {
    const { response, body } = await get("/openapi.json");
    expectStatus(response, 200, body);
    return `${Object.keys(body.paths).length} paths`;
  });
  await check("POST /v1/checkout refuses an invalid body", async () => {
    const response = await fetch(`${target}/v1/checkout`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": `smoke-${Date.now()}` },
      body: JSON.stringify({ items: [] }),
    });
    const body = await response.json().catch(() => null);
    expectStatus(response, 400, body);
    if (body?.code !== "validation_failed") throw new Error(`code ${body?.code}, expected validation_failed`);
  });
  if (admin) {
    await check("GET /v1/admin/orders/summary", async () => {
      const { response, body } = await get("/v1/admin/orders/summary", {
        Authorization: `Bearer ${adminToken}`,
      });
      expectStatus(response, 200, body);
    });
  }
  return { ok: results.every((r) => r.ok), results };
}

async function main() {
  const { values } = parseArgs({
    options: { target: { type: "string" }, "admin-token": { type: "string" } },
  });
  const { target, adminToken } = targetOf(values);
  console.log(`smoke test of ${target}`);
  const { ok } = await smoke(target, adminToken, { admin: adminToken !== undefined });
  if (!ok) process.exit(1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error) => {
    console.error(`smoke failed: ${error.message}`);
    process.exit(1);
  });
}
