/**
 * The proof of a draw: everything a shop publishes so that anyone can recompute who won, and the
 * functions that recompute it. Pure: no imports, only erasable TypeScript, Web Crypto for hashing,
 * so that the worker bundles this file and `node scripts/verify-draw.mjs` imports it as it is
 * (Node strips the types). The order of a draw (docs/draws.md, "Verifying a draw"):
 *
 *   before open   seed = newSeed(), kept secret; publish commitment = commitmentOf(seed) and, if
 *                 configured, the beacon round that will be mixed in
 *   at the close  freeze the entries: tree = entryTree(frozenOrder(entries)); publish tree.digest
 *                 and give each entrant tree.receipt(theirId)
 *   reveal        publish the seed (and the beacon's randomness, once its round is out)
 *   draw          rank(effective seed, entries), then allocate(...) as captures succeed or fail;
 *                 publish the winners and the entries whose capture failed (passedOn)
 *
 * Hex is lowercase everywhere; entry ids are printable ASCII, so string order is byte order.
 * It stays one file, past the usual 400 lines: a second file would need a relative import, which
 * Node only resolves with a `.ts` extension that tsc refuses under this repository's tsconfig.
 */

/** Lowercase hex. */
export type Hex = string;

/** One line of the frozen entry list: who entered, for which variant. */
export interface DrawEntry {
  /** Opaque random id, 1-64 printable ASCII characters (no space), unique in the list. */
  entryId: string;
  /** The variant (size) entered for; each has its own units. */
  sku: string;
}

/** The Merkle root of the frozen entry list and how many entries it holds. */
export interface EntryDigest {
  root: Hex;
  count: number;
}

/** An entrant's proof that their entry is in the list behind an EntryDigest (RFC 9162 §2.1.3). */
export interface Receipt {
  entryId: string;
  sku: string;
  /** Position of the entry in the list (ordered by entryId). */
  index: number;
  /** The list's size: must equal the published count. */
  count: number;
  /** Sibling hashes from the leaf up to the root. */
  path: Hex[];
}

/** A drand round's output. `chain` is the chain hash, `randomness` is SHA-256(signature). */
export interface BeaconRound {
  chain: Hex;
  round: number;
  randomness: Hex;
}

export type DrawState = "open" | "closed" | "revealed" | "drawn";

/**
 * The public record of one draw, served at `GET /v1/drops/<drop>/draw/proof`; it grows as the draw
 * goes on and nothing published earlier changes. The entries are served apart, paged:
 * `GET /v1/drops/<drop>/draw/entries?cursor=` → `{ entries: DrawEntry[], nextCursor: string | null }`.
 */
export interface DrawRecord {
  drop: string;
  /** ISO 8601 UTC: when entries open and close. */
  opensAt: string;
  closesAt: string;
  /** SHA-256 of the secret seed, published before entries open. */
  commitment: Hex;
  /** The drand round mixed into the seed, fixed before entries open; its round falls after the close. */
  beacon?: { chain: Hex; round: number };
  state: DrawState;
  /** From the close: the frozen entry list's digest. */
  entryDigest?: EntryDigest;
  /** From the close: the units on offer per variant (non-negative integers). */
  unitsBySku?: Record<string, number>;
  /** From the reveal: the seed behind the commitment. */
  seed?: Hex;
  /** From the reveal, when a beacon is set: the round's randomness. */
  beaconRandomness?: Hex;
  /** Once drawn: the winners' entry ids, in rank order. */
  winners?: string[];
  /** Once drawn: entries that ranked within the units but whose capture failed, so the unit moved on. */
  passedOn?: string[];
  /** Set when the shop cancelled the draw before drawing it (why): nothing more will be published. */
  cancelled?: string;
}

/** The checks verifyResult runs, each with what it establishes. */
export const DRAW_CHECKS = {
  record: "the record is drawn and complete (seed, digest, units, winners, beacon randomness if set)",
  entries: "the entry list is ordered by entryId, well-formed and has no entry twice",
  commitment: "the revealed seed hashes to the commitment published before the open",
  digest: "the entry list hashes to the digest and count published at the close",
  winners: "the winners are the allocation of the ranking from the (beacon-mixed) seed",
  passedOn: "every passed-on entry is in the list once and ranked where it would have won",
} as const;
export type DrawCheck = keyof typeof DRAW_CHECKS;
export interface DrawFailure {
  check: DrawCheck;
  detail: string;
}

const ENTRY_ID = /^[\x21-\x7e]{1,64}$/;
const HEX32 = /^[0-9a-f]{64}$/;
const encoder = new TextEncoder();
const HEX_DIGITS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function toHex(bytes: ArrayBuffer | Uint8Array): Hex {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const byte of view) out += HEX_DIGITS[byte];
  return out;
}

function fromHex(hex: Hex, what: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new Error(`${what} is not lowercase hex`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function seedBytes(seedHex: Hex): Uint8Array {
  if (!HEX32.test(seedHex)) throw new Error("a seed is 32 bytes of lowercase hex");
  return fromHex(seedHex, "the seed");
}

async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const whole = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", whole));
}

/** A fresh secret seed: 32 random bytes. */
export function newSeed(): Hex {
  return toHex(crypto.getRandomValues(new Uint8Array(32)));
}

/** What is published before the open: SHA-256 of the seed's bytes. */
export async function commitmentOf(seedHex: Hex): Promise<Hex> {
  return toHex(await sha256(seedBytes(seedHex)));
}

/** Why an entry cannot be in a list (null when it can). */
function entryProblem(entry: DrawEntry): string | null {
  if (typeof entry?.entryId !== "string" || !ENTRY_ID.test(entry.entryId)) {
    return `entry id ${JSON.stringify(entry?.entryId)} is not 1-64 printable ASCII characters`;
  }
  if (typeof entry.sku !== "string" || entry.sku === "") return `entry ${entry.entryId} has no sku`;
  return null;
}

/** Sorts a copy of the entries by entryId, the order the list is frozen in. Throws on a bad or repeated entry. */
export function frozenOrder(entries: readonly DrawEntry[]): DrawEntry[] {
  const sorted = entries.map(({ entryId, sku }) => ({ entryId, sku }));
  sorted.sort((a, b) => (a.entryId < b.entryId ? -1 : a.entryId > b.entryId ? 1 : 0));
  for (const [i, entry] of sorted.entries()) {
    const problem = entryProblem(entry);
    if (problem) throw new Error(problem);
    if (i > 0 && sorted[i - 1]?.entryId === entry.entryId) throw new Error(`entry ${entry.entryId} twice`);
  }
  return sorted;
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

function lengthPrefixed(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** SHA-256(0x00 || u32be(len) || utf8(entryId) || u32be(len) || utf8(sku)): no two entries encode alike. */
export async function leafHash(entry: DrawEntry): Promise<Hex> {
  return toHex(await leafBytes(entry));
}

function leafBytes(entry: DrawEntry): Promise<Uint8Array> {
  return sha256(LEAF, lengthPrefixed(entry.entryId), lengthPrefixed(entry.sku));
}

/** SHA-256(0x01 || left || right): the prefix keeps an interior node from passing for a leaf. */
function nodeBytes(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(NODE, left, right);
}

/**
 * Hashes `count` items in batches, each result handed to `keep`: one promise per item at once costs
 * more than the hashing for 200,000 items (Node's Web Crypto goes through its thread pool), one at
 * a time costs more again.
 */
async function inBatches(
  count: number,
  hash: (i: number) => Promise<ArrayBuffer | Uint8Array>,
  keep: (i: number, bytes: Uint8Array) => void,
): Promise<void> {
  for (let start = 0; start < count; start += 4096) {
    const batch = Array.from({ length: Math.min(4096, count - start) }, (_, k) => hash(start + k));
    for (const [k, bytes] of (await Promise.all(batch)).entries()) keep(start + k, new Uint8Array(bytes));
  }
}

/** Node `i` of a level kept as one array of 32-byte hashes (a few MB for 200,000 entries, not 80). */
function nodeAt(level: Uint8Array, i: number): Uint8Array {
  return level.subarray(32 * i, 32 * i + 32);
}

/**
 * The tree's levels, leaves first, the root last. Pairs are hashed left to right and a last,
 * unpaired node is carried up as it is: the same tree as RFC 6962's (split at the largest power of
 * two below n). An empty list's root is SHA-256 of nothing, as in RFC 6962.
 */
async function levelsOf(entries: readonly DrawEntry[]): Promise<Uint8Array[]> {
  if (entries.length === 0) return [await sha256()];
  let level = new Uint8Array(32 * entries.length);
  await inBatches(
    entries.length,
    (i) => leafBytes(entries[i] as DrawEntry),
    (i, hash) => level.set(hash, 32 * i),
  );
  const levels = [level];
  while (level.length > 32) {
    const below = level;
    const size = below.length / 32;
    level = new Uint8Array(32 * Math.ceil(size / 2));
    await inBatches(
      level.length / 32,
      (i) =>
        2 * i + 1 < size
          ? nodeBytes(nodeAt(below, 2 * i), nodeAt(below, 2 * i + 1))
          : Promise.resolve(nodeAt(below, 2 * i)),
      (i, hash) => level.set(hash, 32 * i),
    );
    levels.push(level);
  }
  return levels;
}

/** Where an id is, or would be, in a list in frozen order (a binary search, no index to hold). */
function positionOf(entries: readonly DrawEntry[], entryId: string): number {
  let [low, high] = [0, entries.length];
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((entries[middle] as DrawEntry).entryId < entryId) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The frozen list's hashes, to answer its digest and every entrant's receipt without hashing again. */
export interface EntryTree {
  digest: EntryDigest;
  /** Null when no entry has that id. */
  receipt(entryId: string): Receipt | null;
}

/** Builds the tree of a list already in frozen order (see frozenOrder); throws otherwise. */
export async function entryTree(entries: readonly DrawEntry[]): Promise<EntryTree> {
  for (const [i, entry] of entries.entries()) {
    const problem = entryProblem(entry);
    if (problem) throw new Error(problem);
    const before = entries[i - 1];
    if (before && before.entryId >= entry.entryId) {
      throw new Error(`entries not in frozen order at ${i}: ${before.entryId} then ${entry.entryId}`);
    }
  }
  const levels = await levelsOf(entries);
  return {
    digest: { root: toHex(levels.at(-1) as Uint8Array), count: entries.length },
    receipt(entryId) {
      const index = positionOf(entries, entryId);
      const entry = entries[index];
      if (entry?.entryId !== entryId) return null;
      const path: Hex[] = [];
      let at = index;
      for (const level of levels.slice(0, -1)) {
        if ((at ^ 1) < level.length / 32) path.push(toHex(nodeAt(level, at ^ 1)));
        at >>= 1;
      }
      return { entryId, sku: entry.sku, index, count: entries.length, path };
    },
  };
}

/** The digest of a list in frozen order. */
export async function entryListDigest(entries: readonly DrawEntry[]): Promise<EntryDigest> {
  return (await entryTree(entries)).digest;
}

/** One entrant's receipt (to issue many, build entryTree once). Null when the id is not in the list. */
export async function receiptOf(entries: readonly DrawEntry[], entryId: string): Promise<Receipt | null> {
  return (await entryTree(entries)).receipt(entryId);
}

/**
 * Whether the receipt proves its entry is in the list behind the digest (RFC 9162 §2.1.3.2). The
 * count is part of the check: the index only means something in a list of that size.
 */
export async function verifyReceipt(receipt: Receipt, digest: EntryDigest): Promise<boolean> {
  const { index, count, path } = receipt;
  if (entryProblem(receipt) || count !== digest.count || !Number.isSafeInteger(index)) return false;
  if (index < 0 || index >= count || !Array.isArray(path)) return false;
  let hash = await leafBytes(receipt);
  let fn = index;
  let sn = count - 1;
  for (const hex of path) {
    if (sn === 0 || typeof hex !== "string" || !HEX32.test(hex)) return false;
    const sibling = fromHex(hex, "a path hash");
    if (fn % 2 === 1 || fn === sn) {
      hash = await nodeBytes(sibling, hash);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      hash = await nodeBytes(hash, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && toHex(hash) === digest.root;
}

/** The seed the ranking uses when a beacon is set: SHA-256(seed || the round's randomness). */
export async function mixBeacon(seedHex: Hex, beacon: BeaconRound): Promise<Hex> {
  return toHex(await sha256(seedBytes(seedHex), fromHex(beacon.randomness, "the beacon's randomness")));
}

/**
 * drand defines a round's randomness as SHA-256 of its signature; this checks that relation. It
 * proves the randomness was not chosen apart from the signature, NOT that the signature is the drand
 * network's: that needs a BLS12-381 pairing against the chain's public key, which this module does
 * not do. Trust in the signature rests on the relay it was fetched from.
 */
export async function drandRandomnessMatches(signatureHex: Hex, randomnessHex: Hex): Promise<boolean> {
  try {
    return toHex(await sha256(fromHex(signatureHex, "the signature"))) === randomnessHex;
  } catch {
    return false;
  }
}

/** An entry with its ticket: HMAC-SHA256(key = seed, utf8(entryId)). */
export interface RankedEntry extends DrawEntry {
  ticket: Hex;
}

/** The entries ordered by ticket, lowest first (ties, never expected, by entryId). */
export async function rank(seedHex: Hex, entries: readonly DrawEntry[]): Promise<RankedEntry[]> {
  const key = await crypto.subtle.importKey(
    "raw",
    seedBytes(seedHex),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const ranked: RankedEntry[] = entries.map(({ entryId, sku }) => ({ entryId, sku, ticket: "" }));
  await inBatches(
    entries.length,
    (i) => crypto.subtle.sign("HMAC", key, encoder.encode((entries[i] as DrawEntry).entryId)),
    (i, ticket) => {
      (ranked[i] as RankedEntry).ticket = toHex(ticket);
    },
  );
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return ranked.sort((a, b) => order(a.ticket, b.ticket) || order(a.entryId, b.entryId));
}

export interface Allocation {
  /** Winners' entry ids in rank order. */
  winners: string[];
  /** Passed-on ids the walk never reached with a unit left for their sku (or not entered at all). */
  passedOnOutside: string[];
}

/**
 * Walks the ranking: an entry whose sku has a unit left takes it, unless its capture failed
 * (passedOn), in which case the unit stays for the next entry of that sku; the rest lose.
 */
export function allocate(
  ranked: readonly DrawEntry[],
  unitsBySku: Readonly<Record<string, number>>,
  passedOn: ReadonlySet<string>,
): Allocation {
  const left = new Map(Object.entries(unitsBySku));
  const winners: string[] = [];
  const reached = new Set<string>();
  for (const { entryId, sku } of ranked) {
    const units = left.get(sku) ?? 0;
    if (units <= 0) continue;
    if (passedOn.has(entryId)) {
      reached.add(entryId);
      continue;
    }
    winners.push(entryId);
    left.set(sku, units - 1);
  }
  return { winners, passedOnOutside: [...passedOn].filter((id) => !reached.has(id)) };
}

/** The seed a drawn record ranks with: the revealed seed, mixed with the beacon's randomness if one is set. */
export async function effectiveSeed(record: DrawRecord): Promise<Hex> {
  const { seed, beacon, beaconRandomness } = record;
  if (!seed) throw new Error("the seed is not revealed yet");
  if (!beacon) return seed;
  if (!beaconRandomness) throw new Error("the beacon's randomness is not published yet");
  return mixBeacon(seed, { ...beacon, randomness: beaconRandomness });
}

/** What is missing or malformed in a record that claims to be drawn. */
function recordProblems(record: DrawRecord): string[] {
  const problems: string[] = [];
  const hex32 = (value: unknown) => typeof value === "string" && HEX32.test(value);
  const ids = (value: unknown) => Array.isArray(value) && value.every((id) => typeof id === "string");
  if (record?.state !== "drawn") return [`the draw is ${JSON.stringify(record?.state)}, not drawn yet`];
  if (!hex32(record.commitment)) problems.push("commitment is not 32 bytes of hex");
  if (!hex32(record.seed)) problems.push("seed is not 32 bytes of hex");
  const digest = record.entryDigest;
  if (!hex32(digest?.root) || !Number.isSafeInteger(digest?.count) || (digest?.count ?? -1) < 0) {
    problems.push("entryDigest is not { root: 32 bytes of hex, count: a non-negative integer }");
  }
  const units = record.unitsBySku;
  if (typeof units !== "object" || units === null || Array.isArray(units))
    problems.push("unitsBySku is missing");
  else if (!Object.values(units).every((n) => Number.isSafeInteger(n) && n >= 0)) {
    problems.push("unitsBySku holds a count that is not a non-negative integer");
  }
  if (!ids(record.winners)) problems.push("winners is not a list of entry ids");
  if (record.passedOn !== undefined && !ids(record.passedOn))
    problems.push("passedOn is not a list of entry ids");
  if (record.beacon) {
    const { chain, round } = record.beacon;
    if (typeof chain !== "string" || !Number.isSafeInteger(round) || round < 1) {
      problems.push("beacon is not { chain, round: a positive integer }");
    }
    if (!hex32(record.beaconRandomness)) problems.push("the beacon's randomness is not 32 bytes of hex");
  } else if (record.beaconRandomness !== undefined) {
    problems.push("beaconRandomness is published for a draw with no beacon");
  }
  return problems;
}

function repeated(ids: readonly string[]): string[] {
  const seen = new Set<string>();
  return [...new Set(ids.filter((id) => seen.has(id) || !seen.add(id)))];
}

/**
 * Recomputes a drawn record from its entry list (as served, in order) and answers every check that
 * fails (see DRAW_CHECKS); an empty list means the draw verifies. An incomplete record answers only
 * the `record` failure, since nothing else can be recomputed.
 */
export async function verifyResult(
  record: DrawRecord,
  entries: readonly DrawEntry[],
): Promise<DrawFailure[]> {
  const problems = recordProblems(record);
  if (problems.length > 0) return [{ check: "record", detail: problems.join("; ") }];
  const { seed, commitment, entryDigest, unitsBySku, winners } = record as Required<DrawRecord>;
  const passedOn = record.passedOn ?? [];
  const failures: DrawFailure[] = [];
  const fail = (check: DrawCheck, detail: string) => failures.push({ check, detail });

  for (const [i, entry] of entries.entries()) {
    const problem = entryProblem(entry);
    const before = entries[i - 1];
    if (problem) fail("entries", `at ${i}: ${problem}`);
    else if (before && before.entryId >= entry.entryId) {
      fail("entries", `at ${i}: ${entry.entryId} after ${before.entryId} (out of order or twice)`);
    }
    if (failures.length > 0) break;
  }
  if ((await commitmentOf(seed)) !== commitment) {
    fail("commitment", `SHA-256(seed) is ${await commitmentOf(seed)}, the commitment ${commitment}`);
  }
  const levels = await levelsOf(entries);
  const digest = { root: toHex(levels.at(-1) as Uint8Array), count: entries.length };
  if (digest.count !== entryDigest.count)
    fail("digest", `${digest.count} entries, ${entryDigest.count} published`);
  if (digest.root !== entryDigest.root)
    fail("digest", `the entries hash to ${digest.root}, not ${entryDigest.root}`);

  const ranked = await rank(await effectiveSeed(record), entries);
  const allocation = allocate(ranked, unitsBySku, new Set(passedOn));
  const first = allocation.winners.findIndex((id, i) => winners[i] !== id);
  if (first >= 0 || winners.length !== allocation.winners.length) {
    const at = first >= 0 ? first : Math.min(winners.length, allocation.winners.length);
    fail(
      "winners",
      `${allocation.winners.length} winners recomputed, ${winners.length} published; the first difference is at ` +
        `${at + 1}: ${allocation.winners[at] ?? "none"} recomputed, ${winners[at] ?? "none"} published`,
    );
  }
  const twice = repeated(passedOn);
  if (twice.length > 0) fail("passedOn", `passed on twice: ${twice.join(", ")}`);
  if (allocation.passedOnOutside.length > 0) {
    fail(
      "passedOn",
      `not ranked where a unit was left (or not entered): ${allocation.passedOnOutside.join(", ")}`,
    );
  }
  return failures;
}
