// The deploy scripts a shop runs against a deployment (`npm run seed`, `npm run import`,
// `npm run smoke`), run as commands against Stampede on local workerd with fresh state.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startStampede } from "../loadtest/lib/harness.mjs";

const ADMIN_TOKEN = "scripts-admin-token";
const workdir = mkdtempSync(join(tmpdir(), "stampede-scripts-"));

/** Runs a script as a shop would; asynchronously, since the local runtime lives in this process. */
function run(script, ...args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`scripts/${script}.mjs`, ...args], {
      env: { ...process.env, ADMIN_TOKEN: "" },
    });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      out += chunk;
    });
    child.on("close", (status) => resolve({ status, out }));
  });
}

async function json(url, init) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json() };
}

describe("deploy scripts", { timeout: 300_000 }, () => {
  let server;
  let target;
  before(async () => {
    server = await startStampede({ bindings: { ADMIN_TOKEN } });
    target = server.url;
  });
  after(() => server?.stop());

  const auth = () => ["--target", target, "--admin-token", ADMIN_TOKEN];

  it("smoke fails on an empty shop and names the fix", async () => {
    const { status, out } = await run("smoke", ...auth());
    assert.equal(status, 1);
    assert.match(out, /ok {4}GET \/health \(payments: simulated, the simulator: no money is taken\)/);
    assert.match(out, /FAIL {2}GET \/v1\/products: the catalog is empty: npm run seed or npm run import/);
  });

  it("seed fills an empty shop with the demo catalog, and then leaves it alone", async () => {
    const first = await run("seed", ...auth());
    assert.equal(first.status, 0, first.out);
    assert.match(first.out, /62 products created|61 products created/);
    const sneaker = await json(`${target}/v1/inventory/FLASH-SNEAKER`);
    assert.equal(sneaker.body.available, 100);
    const second = await run("seed", ...auth());
    assert.equal(second.status, 0);
    assert.match(second.out, /already has products; nothing seeded/);
  });

  it("import checks every row first, then creates or replaces products and sets their stock", async () => {
    const bad = join(workdir, "bad.csv");
    writeFileSync(
      bad,
      "slug,title,category,sku,price,currency,stock\nmug,Mug,kitchen,MUG-1,12.5x,USD,3\nmug,Mug,kitchen,MUG-2,12.50,USD,-1\n",
    );
    const refused = await run("import", bad, ...auth());
    assert.equal(refused.status, 1);
    assert.match(refused.out, /line 2: price "12.5x"/);
    assert.match(refused.out, /line 3: stock "-1"/);
    assert.equal((await json(`${target}/v1/products/mug`)).status, 404);

    const good = join(workdir, "catalog.csv");
    writeFileSync(
      good,
      [
        "slug,title,description,category,images,sku,variant_title,price,currency,stock,attributes",
        'mug,Enamel Mug,"Holds tea, coffee, or pens",kitchen,https://img.example/mug.jpg,MUG-BLU,Blue,12.50,USD,40,colour=blue',
        "mug,Enamel Mug,,kitchen,,MUG-RED,Red,12.50,USD,5,colour=red",
        "flash-sale-sneaker,Flash Sale Sneaker,Now in two editions,footwear,,FLASH-SNEAKER,Limited edition,49.99,USD,,",
        "bowl,Bowl,,kitchen,,BOWL-1,One size,8,EUR,12,",
      ].join("\r\n"),
    );
    const imported = await run("import", good, ...auth());
    assert.equal(imported.status, 0, imported.out);
    assert.match(imported.out, /2 products created, 1 replaced, stock set for 3 SKUs/);
    const mug = await json(`${target}/v1/products/mug`);
    assert.equal(mug.body.description, "Holds tea, coffee, or pens");
    assert.deepEqual(
      mug.body.variants.map((v) => [v.sku, v.price.amount, v.attributes.colour]),
      [
        ["MUG-BLU", 1250, "blue"],
        ["MUG-RED", 1250, "red"],
      ],
    );
    assert.deepEqual((await json(`${target}/v1/products/bowl`)).body.variants[0].price, {
      amount: 800,
      currency: "EUR",
    });
    assert.equal((await json(`${target}/v1/inventory/MUG-RED`)).body.available, 5);
    // A replaced product keeps its stock when the file gives none.
    assert.equal((await json(`${target}/v1/inventory/FLASH-SNEAKER`)).body.available, 100);
    assert.equal(
      (await json(`${target}/v1/products/flash-sale-sneaker`)).body.description,
      "Now in two editions",
    );
  });

  it("smoke passes on a stocked shop without buying anything", async () => {
    const before = await json(`${target}/v1/admin/orders/summary`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const { status, out } = await run("smoke", ...auth());
    assert.equal(status, 0, out);
    assert.match(out, /ok {4}POST \/v1\/checkout refuses an invalid body/);
    const afterwards = await json(`${target}/v1/admin/orders/summary`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.deepEqual(afterwards.body.intake, before.body.intake);
  });
});

describe("smoke against a deployment that may not take payments", { timeout: 300_000 }, () => {
  let server;
  before(async () => {
    server = await startStampede({ bindings: { ADMIN_TOKEN, ALLOW_SIMULATED_PAYMENTS: "false" } });
  });
  after(() => server?.stop());

  it("fails at /health, saying why", async () => {
    const { status, out } = await run("smoke", "--target", server.url, "--admin-token", ADMIN_TOKEN);
    assert.equal(status, 1);
    assert.match(out, /FAIL {2}GET \/health: answered 503/);
    assert.match(out, /ALLOW_SIMULATED_PAYMENTS/);
  });
});
