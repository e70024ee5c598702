// `npm run verify-draw` against a shop that serves a fixed draw (and a drand relay) from a local
// server: the exit code says whether the draw verifies (0), a check failed (1) or it could not check (2).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { allocate, commitmentOf, effectiveSeed, entryTree, frozenOrder, rank } from "../src/draws/proof.ts";

const workdir = mkdtempSync(join(tmpdir(), "stampede-verify-draw-"));
const PAGE = 7;
const CHAIN = "ab".repeat(32);
const CLOSES = "2026-12-07T10:00:00.000Z";
const signature = randomBytes(96).toString("hex");
const beaconRound = {
  round: 21,
  signature,
  randomness: createHash("sha256").update(Buffer.from(signature, "hex")).digest("hex"),
};
// Round 21 comes out 20 periods of 3 s after genesis: 30 s after the close.
const chainInfo = { genesis_time: Date.parse(CLOSES) / 1000 - 30, period: 3, hash: CHAIN };

/** A draw published honestly: the ranking's first reachable capture failed and was passed on. */
async function honestDraw(drop, { beacon = false } = {}) {
  const entries = frozenOrder(
    Array.from({ length: 30 }, (_, i) => ({
      entryId: `entry-${randomBytes(6).toString("hex")}`,
      sku: `S${i % 3}`,
    })),
  );
  const seed = randomBytes(32).toString("hex");
  const tree = await entryTree(entries);
  const record = {
    drop,
    opensAt: "2026-12-07T09:00:00.000Z",
    closesAt: CLOSES,
    commitment: await commitmentOf(seed),
    ...(beacon ? { beacon: { chain: CHAIN, round: beaconRound.round } } : {}),
    state: "drawn",
    entryDigest: tree.digest,
    unitsBySku: { S0: 3, S1: 2, S2: 1 },
    seed,
    ...(beacon ? { beaconRandomness: beaconRound.randomness } : {}),
  };
  const ranked = await rank(await effectiveSeed(record), entries);
  const passedOn = [ranked[0].entryId];
  const { winners } = allocate(ranked, record.unitsBySku, new Set(passedOn));
  const receipt = tree.receipt(entries[4].entryId);
  return { record: { ...record, winners, passedOn }, entries, receipt };
}

function run(...args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["scripts/verify-draw.mjs", ...args]);
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

function writeJson(name, value) {
  const file = join(workdir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

describe("verify-draw", { timeout: 120_000 }, () => {
  const draws = new Map();
  let server;
  let url;
  before(async () => {
    server = createServer((request, response) => {
      const { pathname, searchParams } = new URL(request.url, "http://local");
      const answer = (status, body) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify(body));
      };
      if (pathname === `/drand/${CHAIN}/info`) return answer(200, chainInfo);
      if (pathname === `/drand/${CHAIN}/public/${beaconRound.round}`) return answer(200, beaconRound);
      const [, drop, what] = pathname.match(/^\/v1\/drops\/([^/]+)\/draw\/(proof|entries)$/) ?? [];
      const draw = draws.get(drop);
      if (!draw) return answer(404, { title: "Not Found", detail: `no draw for ${drop}` });
      if (what === "proof") return answer(200, draw.record);
      const from = Number(searchParams.get("cursor") ?? 0);
      const next = from + PAGE < draw.entries.length ? String(from + PAGE) : null;
      return answer(200, { entries: draw.entries.slice(from, from + PAGE), nextCursor: next });
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => server?.close());

  it("verifies an honest draw and an entrant's receipt, and shows the winners' ranks (exit 0)", async () => {
    const draw = await honestDraw("plain");
    draws.set("plain", draw);
    const { status, out } = await run(url, "plain", "--receipt", writeJson("receipt.json", draw.receipt));
    assert.equal(status, 0, out);
    assert.match(out, /30 entries fetched; no beacon/);
    for (const check of ["record", "entries", "commitment", "digest", "winners", "passedOn", "receipt"]) {
      assert.match(out, new RegExp(`^ok {4}${check}: `, "m"));
    }
    assert.match(out, /6 winners, 1 passed on/);
    assert.match(out, new RegExp(`rank 2: ${draw.record.winners[0]}`));
    assert.match(out, /the draw verifies/);
  });

  it("verifies a beacon draw against the drand relay, and fails when the record's randomness is not the round's", async () => {
    const draw = await honestDraw("beacon", { beacon: true });
    draws.set("beacon", draw);
    const relay = ["--drand", `${url}/drand`];
    const good = await run(url, "beacon", ...relay);
    assert.equal(good.status, 0, good.out);
    assert.match(good.out, /ok {4}beacon round: round 21 .* came out at 2026-12-07T10:00:30.000Z/);
    assert.match(good.out, /ok {4}beacon randomness: matches/);
    draws.set("beacon", { ...draw, record: { ...draw.record, beaconRandomness: "00".repeat(32) } });
    const bad = await run(url, "beacon", ...relay);
    assert.equal(bad.status, 1, bad.out);
    assert.match(bad.out, /FAIL {2}beacon randomness: the relay gives/);
  });

  it("fails a swapped winner, a forged receipt and an entry dropped from the pages (exit 1)", async () => {
    const draw = await honestDraw("tampered");
    const loser = draw.entries.find((e) => !draw.record.winners.includes(e.entryId)).entryId;
    draws.set("tampered", {
      ...draw,
      record: { ...draw.record, winners: [loser, ...draw.record.winners.slice(1)] },
    });
    const swapped = await run(url, "tampered");
    assert.equal(swapped.status, 1, swapped.out);
    assert.match(swapped.out, /FAIL {2}winners: .*first difference is at 1/);
    assert.match(swapped.out, /THE DRAW DOES NOT VERIFY/);

    draws.set("tampered", draw);
    const forged = writeJson("forged.json", { ...draw.receipt, sku: "S9" });
    const receipt = await run(url, "tampered", "--receipt", forged);
    assert.equal(receipt.status, 1, receipt.out);
    assert.match(receipt.out, /FAIL {2}receipt: entry .* is NOT shown to be in the list/);

    draws.set("tampered", { ...draw, entries: draw.entries.slice(1) });
    const dropped = await run(url, "tampered");
    assert.equal(dropped.status, 1, dropped.out);
    assert.match(dropped.out, /FAIL {2}digest: 29 entries, 30 published/);
  });

  it("says a draw not drawn yet cannot be verified (exit 1)", async () => {
    const draw = await honestDraw("early");
    const { seed: _seed, winners: _winners, passedOn: _passedOn, ...closed } = draw.record;
    draws.set("early", { ...draw, record: { ...closed, state: "closed" } });
    const { status, out } = await run(url, "early", "--receipt", writeJson("early.json", draw.receipt));
    assert.equal(status, 1, out);
    assert.match(out, /FAIL {2}record: the draw is "closed", not drawn yet/);
    assert.match(out, /ok {4}receipt: entry/);
  });

  it("exits 2 with the reason on a usage error, an unknown drop or a shop that cannot be reached", async () => {
    const usage = await run();
    assert.equal(usage.status, 2);
    assert.match(usage.out, /^usage: npm run verify-draw -- <url> <drop>/);
    const unknown = await run(url, "nope");
    assert.equal(unknown.status, 2);
    assert.match(unknown.out, /answered 404: no draw for nope/);
    const closed = createServer();
    await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = closed.address().port;
    closed.close();
    const down = await run(`http://127.0.0.1:${port}`, "plain");
    assert.equal(down.status, 2);
    assert.match(down.out, /cannot reach .*ECONNREFUSED/);
    assert.doesNotMatch(`${usage.out}${unknown.out}${down.out}`, /\n\s+at /);
  });
});
