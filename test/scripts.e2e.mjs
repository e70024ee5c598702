// The deploy scripts a shop runs against a deployment (`npm run seed`, `npm run import`,
// `npm run smoke`), run as commands against Stampede on local workerd with fresh state.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startStampede } from "../loadtest/lib/harness.mjs";

const ADMIN_TOKEN = "scripts-admin-token";
const workdir = mkdtempSync(join(tmpdir(), "stampede-scripts-"));

/**
 * Runs a script as a shop would, with the admin token in its environment (`run.as(token)`);
 * asynchronously, since the local runtime lives in this process.
 */
function run(script, ...args) {
  return runWith("", script, ...args);
}
run.as =
  (token) =>
  (script, ...args) =>
    runWith(token, script, ...args);

function runWith(token, script, ...args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`scripts/${script}.mjs`, ...args], {
      env: { ...process.env, ADMIN_TOKEN: token },
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

  const auth = () => ["--target", target];
  const admin = run.as(ADMIN_TOKEN);

  it("smoke fails on an empty shop and names the fix", async () => {
    const { status, out } = await admin("smoke", ...auth());
    assert.equal(status, 1);
    assert.match(out, /ok {4}GET \/health \(payments: simulated, the simulator: no money is taken\)/);
    assert.match(out, /FAIL {2}GET \/v1\/products: the catalog is empty: npm run seed or npm run import/);
  });

  it("seed fills an empty shop with the demo catalog, and then leaves it alone", async () => {
    const first = await admin("seed", ...auth());
    assert.equal(first.status, 0, first.out);
    assert.match(first.out, /62 products created|61 products created/);
    const sneaker = await json(`${target}/v1/inventory/FLASH-SNEAKER`);
    assert.equal(sneaker.body.available, 100);
    const second = await admin("seed", ...auth());
    assert.equal(second.status, 0);
    assert.match(second.out, /already has products; nothing seeded/);
  });

  it("import checks every row first, then creates or replaces products and sets their stock", async () => {
    const bad = join(workdir, "bad.csv");
    writeFileSync(
      bad,
      "slug,title,category,sku,price,currency,stock\nmug,Mug,kitchen,MUG-1,12.5x,USD,3\nmug,Mug,kitchen,MUG-2,12.50,USD,-1\n",
    );
    const refused = await admin("import", bad, ...auth());
    assert.equal(refused.status, 1);
    assert.match(refused.out, /line 2 \(sku "MUG-1"\): price "12.5x"/);
    assert.match(refused.out, /line 3 \(sku "MUG-2"\): stock "-1"/);
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
    const imported = await admin("import", good, ...auth());
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

    // A SKU another product has: the refusal names the SKU and the product it belongs to.
    const clash = join(workdir, "clash.csv");
    writeFileSync(clash, "slug,title,category,sku,price,currency\ncup,Cup,kitchen,MUG-RED,9.00,USD\n");
    const taken = await admin("import", clash, ...auth());
    assert.equal(taken.status, 1);
    assert.match(taken.out, /cup: 409 sku_taken: SKU "MUG-RED" belongs to product "mug"/);
  });

  it("import lists every problem of every row in one dry run", async () => {
    const faulty = join(workdir, "five-faults.csv");
    writeFileSync(
      faulty,
      [
        "slug,title,category,sku,price,currency,stock,images",
        "Lamp,Lamp,home,LAMP-1,12.5x,USD,3,", // slug, price
        "lamp,Lamp,home,LAMP-2,10.00,JPY,-1,ftp://img.example/lamp.jpg", // currency, stock, image
      ].join("\n"),
    );
    const { status, out } = await admin("import", faulty, "--dry-run");
    assert.equal(status, 1);
    for (const fault of [
      /line 2 \(sku "LAMP-1"\): slug "Lamp"/,
      /line 2 \(sku "LAMP-1"\): price "12.5x"/,
      /line 3 \(sku "LAMP-2"\): currency "JPY"/,
      /line 3 \(sku "LAMP-2"\): stock "-1"/,
      /line 3 \(sku "LAMP-2"\): image "ftp:\/\/img.example\/lamp.jpg"/,
    ])
      assert.match(out, fault);
    assert.match(out, /nothing imported: 5 problem\(s\)/);
  });

  it("smoke passes on a stocked shop without buying anything", async () => {
    const before = await json(`${target}/v1/admin/orders/summary`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const { status, out } = await admin("smoke", ...auth());
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
    const { status, out } = await run.as(ADMIN_TOKEN)("smoke", "--target", server.url);
    assert.equal(status, 1);
    assert.match(out, /FAIL {2}GET \/health: answered 503/);
    assert.match(out, /ALLOW_SIMULATED_PAYMENTS/);
  });
});

/**
 * The README's quick start, as a newcomer follows it: its first block is what the test does itself
 * (the install is this checkout's; `npm start` runs on a free port and fresh state), and every later
 * block runs as written in bash, only its port changed. A documented command that breaks fails here.
 */
function quickStartBlocks() {
  const readme = readFileSync("README.md", "utf8");
  const section = readme.split("\n## Quick start")[1]?.split("\n## ")[0];
  assert.ok(section, "README.md has a Quick start section");
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
}

async function freeLocalPort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function bash(script, cwd) {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], { cwd });
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

describe("the README's quick start", { timeout: 300_000 }, () => {
  let start;
  let port;
  let printed = "";
  before(async () => {
    port = await freeLocalPort();
    // As typed: `npm start`, with npm's own lines, in a process group of its own to stop it whole.
    start = spawn("npm", ["start"], {
      env: {
        ...process.env,
        PORT: String(port),
        PERSIST_TO: mkdtempSync(join(tmpdir(), "stampede-readme-")),
      },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not come up:\n${printed}`)), 180_000);
      const watch = (chunk) => {
        printed += chunk;
        if (printed.includes("Ctrl-C stops it.")) {
          clearTimeout(timer);
          resolve();
        }
      };
      start.stdout.on("data", watch);
      start.stderr.on("data", watch);
      start.on("exit", (code) => reject(new Error(`npm start exited with ${code}:\n${printed}`)));
    });
  });
  after(() => {
    if (start?.exitCode === null) process.kill(-start.pid, "SIGTERM");
  });

  it("starts quietly: at most 40 lines up to and including the banner, which comes last", () => {
    const lines = printed.slice(0, printed.indexOf("Ctrl-C stops it.")).split("\n");
    assert.ok(
      lines.length <= 40,
      `npm start printed ${lines.length} lines before its banner ended:\n${printed}`,
    );
    assert.match(printed, /Admin token {2}dev-admin-token/);
    assert.doesNotMatch(printed, /ERROR|getaddrinfo|REPLACE_WITH_|Your Worker has access/);
  });

  it("places a paid order with the README's curl commands", async () => {
    const [install, ...blocks] = quickStartBlocks();
    const commands = install
      .split("\n")
      .map((line) => line.replace(/#.*/, "").trim())
      .filter(Boolean);
    assert.deepEqual(commands, ["npm ci", "npm start"], "the test does what the first block says");
    assert.ok(blocks.some((block) => block.includes("POST http://localhost:8787/v1/checkout")));
    const cwd = mkdtempSync(join(tmpdir(), "stampede-readme-curl-"));
    const local = (block) => block.replaceAll("localhost:8787", `localhost:${port}`);
    const [last] = blocks.slice(-1);
    for (const block of blocks.slice(0, -1)) {
      const { status, out } = await bash(local(block), cwd);
      assert.equal(status, 0, `${block}\n${out}`);
    }
    assert.match(readFileSync(join(cwd, "order.json"), "utf8"), /"status":"pending_payment"/);
    // The last block reads the order; the README says it is paid "a moment later".
    let read = "";
    for (let attempt = 0; attempt < 20; attempt++) {
      const { status, out } = await bash(local(last), cwd);
      assert.equal(status, 0, `${last}\n${out}`);
      read = out;
      if (out.includes('"status":"paid"')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.match(read, /"status":"paid"/);
    assert.match(read, /"payment":\{"status":"succeeded","attempts":1/);
  });
});

describe("smoke against a shop that is not there", { timeout: 60_000 }, () => {
  it("names the refused host and port once, and skips the checks that would say it again", async () => {
    // A port that was free a moment ago: nothing listens on it.
    const closed = createServer();
    await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    const { status, out } = await run("smoke", "--target", `http://127.0.0.1:${port}`);
    assert.equal(status, 1, out);
    assert.match(
      out,
      new RegExp(
        `FAIL {2}GET /health: cannot connect to 127\\.0\\.0\\.1:${port}: connection refused \\(ECONNREFUSED\\)`,
      ),
    );
    assert.doesNotMatch(out, /fetch failed/);
    assert.equal(out.match(/ECONNREFUSED/g).length, 1, out);
  });
});

describe("where the scripts send the admin token", { timeout: 120_000 }, () => {
  it("refuses plain http to any host but this machine, before a single request", async () => {
    // 127.0.0.2 is this machine too, but not a name the scripts take plain http for: it stands
    // for a shop elsewhere, and shows that nothing was sent.
    let requests = 0;
    const elsewhere = createServer((_request, response) => {
      requests++;
      response.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    });
    await new Promise((resolve) => elsewhere.listen(0, "127.0.0.2", resolve));
    const target = `http://127.0.0.2:${elsewhere.address().port}`;
    const csv = join(workdir, "one.csv");
    writeFileSync(csv, "slug,title,category,sku,price,currency,stock\nmug,Mug,kitchen,MUG-1,12.50,USD,3\n");
    try {
      for (const args of [["seed"], ["import", csv], ["smoke"]]) {
        const { status, out } = await run.as(ADMIN_TOKEN)(...args, "--target", target);
        assert.equal(status, 1, out);
        assert.match(out, /refusing to send the admin token to http:\/\/127\.0\.0\.2/);
      }
      assert.equal(requests, 0);
    } finally {
      elsewhere.close();
    }
  });

  it("takes the token from the environment, and warns when it is given on the command line", async () => {
    const { status, out } = await run("seed", "--target", "https://shop.invalid");
    assert.equal(status, 1);
    assert.match(out, /set ADMIN_TOKEN in the environment/);
    const flagged = await run("seed", "--target", "https://shop.invalid", "--admin-token", "t");
    assert.match(flagged.out, /--admin-token leaves the token in your shell history/);
  });
});
