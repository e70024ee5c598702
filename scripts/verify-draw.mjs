#!/usr/bin/env node
// `npm run verify-draw -- <url> <drop> [--receipt file.json] [--drand <relay> | --drand off]`:
// recomputes a drop's draw from what the shop publishes (docs/draws.md, "Verifying a draw"): the
// record at <url>/v1/drops/<drop>/draw/proof and every page of its entry list, checked with the
// same module the shop draws with (src/draws/proof.ts, imported as it is: Node strips its types).
// With a beacon, the round is fetched from a drand relay (https://api.drand.sh unless --drand says
// otherwise). Exits 0 when everything verifies, 1 when a check fails, 2 when it cannot check.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  DRAW_CHECKS,
  drandRandomnessMatches,
  effectiveSeed,
  rank,
  verifyReceipt,
  verifyResult,
} from "../src/draws/proof.ts";

const USAGE =
  "usage: npm run verify-draw -- <url> <drop> [--receipt file.json] [--drand <relay url> | --drand off]";
const DEFAULT_RELAY = "https://api.drand.sh";
const SHOWN_WINNERS = 20;

/** Why the check could not be done at all (exit 2), as against a check that failed (exit 1). */
class CannotCheck extends Error {}

/** A fetch failure in words: undici says what happened only in the error's cause. */
function unreachable(error, url) {
  const cause = error.cause?.errors?.[0] ?? error.cause ?? {};
  if (error.name === "TimeoutError") return `no answer from ${url} within 30 s`;
  return `cannot reach ${url}: ${cause.code ? `${cause.message} (${cause.code})` : (cause.message ?? error.message)}`;
}

async function getJson(url) {
  let response;
  try {
    response = await fetch(url, {
      signal: AbortSignal.timeout(30_000),
      headers: { accept: "application/json" },
    });
  } catch (error) {
    throw new CannotCheck(unreachable(error, url));
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CannotCheck(`${url} answered ${response.status} with something that is not JSON`);
  }
  if (!response.ok) {
    const reason = body?.detail ?? body?.title ?? text.slice(0, 200);
    throw new CannotCheck(`${url} answered ${response.status}: ${reason}`);
  }
  return body;
}

/** Every page of the entry list, in order; the pages' order is checked by verifyResult. */
async function fetchEntries(base) {
  const entries = [];
  const seen = new Set();
  for (let cursor = null; ; ) {
    const url = `${base}/entries${cursor === null ? "" : `?cursor=${encodeURIComponent(cursor)}`}`;
    const page = await getJson(url);
    const listed =
      Array.isArray(page?.entries) && page.entries.every((e) => typeof e === "object" && e !== null);
    if (!listed || !(page.nextCursor === null || typeof page.nextCursor === "string")) {
      throw new CannotCheck(`${url} is not a page of entries ({ entries: [...], nextCursor })`);
    }
    entries.push(...page.entries.map(({ entryId, sku }) => ({ entryId, sku })));
    if (page.nextCursor === null) return entries;
    if (seen.has(page.nextCursor))
      throw new CannotCheck(`the entry pages loop back to cursor ${page.nextCursor}`);
    seen.add(page.nextCursor);
    cursor = page.nextCursor;
  }
}

/** The drand round, from a relay: published before the close it would have told the shop the outcome. */
async function checkBeacon(record, relay, report) {
  const { chain, round } = record.beacon;
  if (relay === "off") {
    report(
      null,
      "beacon",
      `not checked (--drand off): round ${round}'s randomness is taken on the shop's word`,
    );
    return;
  }
  const base = `${relay.replace(/\/$/, "")}/${encodeURIComponent(chain)}`;
  const info = await getJson(`${base}/info`);
  const at = (info.genesis_time + (round - 1) * info.period) * 1000;
  if (!Number.isFinite(at)) throw new CannotCheck(`${base}/info has no genesis_time and period`);
  const closes = Date.parse(record.closesAt);
  report(
    at >= closes,
    "beacon round",
    `round ${round} of chain ${chain.slice(0, 12)}… came out at ${new Date(at).toISOString()}, the close was ${record.closesAt}`,
  );
  const beacon = await getJson(`${base}/public/${round}`);
  const matches = beacon.randomness === record.beaconRandomness;
  const derived = await drandRandomnessMatches(beacon.signature ?? "", beacon.randomness ?? "");
  report(
    matches && derived,
    "beacon randomness",
    !matches
      ? `the relay gives ${beacon.randomness}, the record ${record.beaconRandomness}`
      : derived
        ? `matches ${relay}, and is SHA-256 of the round's signature (the BLS signature itself is not checked here)`
        : "the relay's randomness is not SHA-256 of its signature",
  );
}

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { receipt: { type: "string" }, drand: { type: "string", default: DEFAULT_RELAY } },
    });
  } catch (error) {
    throw new CannotCheck(`${error.message}\n${USAGE}`);
  }
  const [url, drop, ...extra] = parsed.positionals;
  if (!url || !drop || extra.length > 0 || !URL.canParse(url)) throw new CannotCheck(USAGE);
  let receipt = null;
  if (parsed.values.receipt) {
    try {
      receipt = JSON.parse(readFileSync(parsed.values.receipt, "utf8"));
    } catch (error) {
      throw new CannotCheck(`cannot read the receipt ${parsed.values.receipt}: ${error.message}`);
    }
    if (typeof receipt?.entryId !== "string") {
      throw new CannotCheck(
        `${parsed.values.receipt} is not a receipt ({ entryId, sku, index, count, path })`,
      );
    }
  }

  const base = `${url.replace(/\/$/, "")}/v1/drops/${encodeURIComponent(drop)}/draw`;
  const record = await getJson(`${base}/proof`);
  console.log(
    `draw ${record.drop ?? drop}: ${record.state}, entries ${record.opensAt} to ${record.closesAt}`,
  );
  const entries = record.entryDigest ? await fetchEntries(base) : [];
  console.log(
    `${entries.length} entries fetched; ${record.beacon ? `beacon: drand round ${record.beacon.round}` : "no beacon"}`,
  );

  let failed = false;
  const report = (ok, name, detail) => {
    if (ok === false) failed = true;
    console.log(`${ok === null ? "--  " : ok ? "ok  " : "FAIL"}  ${name}: ${detail}`);
  };
  const failures = await verifyResult(record, entries);
  const incomplete = failures.some((f) => f.check === "record");
  for (const [check, meaning] of Object.entries(DRAW_CHECKS)) {
    const mine = failures.filter((f) => f.check === check);
    if (mine.length > 0) report(false, check, mine.map((f) => f.detail).join("; "));
    else report(incomplete ? null : true, check, incomplete ? "not checked" : meaning);
  }
  if (receipt) {
    const ok = Boolean(record.entryDigest) && (await verifyReceipt(receipt, record.entryDigest));
    report(
      ok,
      "receipt",
      `entry ${receipt.entryId} (${receipt.sku}) ${ok ? "is" : "is NOT shown to be"} in the list`,
    );
  }
  if (incomplete) return 1;
  if (record.beacon) await checkBeacon(record, parsed.values.drand, report);

  const ranked = await rank(await effectiveSeed(record), entries);
  const rankOf = new Map(ranked.map((entry, i) => [entry.entryId, i + 1]));
  const winners = record.winners;
  console.log(`\n${winners.length} winners, ${record.passedOn?.length ?? 0} passed on (capture failed):`);
  const skuOf = new Map(entries.map((e) => [e.entryId, e.sku]));
  for (const [sku, units] of Object.entries(record.unitsBySku)) {
    const entered = entries.filter((e) => e.sku === sku).length;
    const won = winners.filter((id) => skuOf.get(id) === sku).length;
    console.log(`  ${sku}: ${units} units, ${entered} entries, ${won} winners`);
  }
  for (const id of winners.slice(0, SHOWN_WINNERS))
    console.log(`  rank ${rankOf.get(id)}: ${id} (${skuOf.get(id)})`);
  if (winners.length > SHOWN_WINNERS) console.log(`  … and ${winners.length - SHOWN_WINNERS} more`);
  if (receipt && rankOf.has(receipt.entryId)) {
    const won = winners.includes(receipt.entryId);
    console.log(
      `your entry ${receipt.entryId}: rank ${rankOf.get(receipt.entryId)}, ${won ? "won" : "did not win"}`,
    );
  }
  console.log(failed ? "\nTHE DRAW DOES NOT VERIFY" : "\nthe draw verifies");
  return failed ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof CannotCheck ? error.message : `cannot check: ${error.message}`);
  process.exitCode = 2;
}
