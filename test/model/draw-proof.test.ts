import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  allocate,
  commitmentOf,
  type DrawCheck,
  type DrawEntry,
  type DrawRecord,
  type DrawState,
  drandRandomnessMatches,
  entryListDigest,
  entryTree,
  frozenOrder,
  leafHash,
  mixBeacon,
  newSeed,
  rank,
  receiptOf,
  verifyReceipt,
  verifyResult,
} from "../../src/draws/proof";
import { drawnRecord, entriesOf } from "./draw-proof.helpers";

/** The proof of a draw (src/draws/proof.ts) alone: the hashes are checked against node:crypto. */
const sha = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();
const prefixed = (text: string) => {
  const bytes = Buffer.from(text, "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
};
const leaf = (e: DrawEntry) => sha(Buffer.of(0), prefixed(e.entryId), prefixed(e.sku));

/** RFC 6962's Merkle Tree Hash, written as the RFC defines it: split at the largest power of two below n. */
function mth(entries: DrawEntry[]): Buffer {
  if (entries.length === 0) return sha();
  if (entries.length === 1) return leaf(entries[0] as DrawEntry);
  let k = 1;
  while (k * 2 < entries.length) k *= 2;
  return sha(Buffer.of(1), mth(entries.slice(0, k)), mth(entries.slice(k)));
}

const SEED = "11".repeat(32);

describe("the entry list's digest and receipts", () => {
  it("hashes to RFC 6962's tree, and every entry's receipt verifies, for 0 to 70 entries", async () => {
    for (let count = 0; count <= 70; count++) {
      const entries = entriesOf(count);
      const tree = await entryTree(entries);
      expect(tree.digest).toEqual({ root: mth(entries).toString("hex"), count });
      for (const [index, entry] of entries.entries()) {
        const receipt = tree.receipt(entry.entryId);
        expect(receipt).toMatchObject({ ...entry, index, count });
        expect(await verifyReceipt(receipt as NonNullable<typeof receipt>, tree.digest)).toBe(true);
      }
    }
  });

  it("refuses a receipt with a changed path, leaf, index or count", async () => {
    const entries = entriesOf(37);
    const digest = await entryListDigest(entries);
    const receipt = (await receiptOf(entries, entries[21]?.entryId as string)) as NonNullable<
      Awaited<ReturnType<typeof receiptOf>>
    >;
    const flipped = receipt.path.map((hex, i) =>
      i === 2 ? `${hex[0] === "0" ? "1" : "0"}${hex.slice(1)}` : hex,
    );
    const tampered = [
      { ...receipt, path: flipped },
      { ...receipt, path: receipt.path.slice(1) },
      { ...receipt, path: [...receipt.path, receipt.path[0] as string] },
      { ...receipt, sku: "OTHER" },
      { ...receipt, entryId: entries[22]?.entryId as string },
      { ...receipt, index: 20 },
      { ...receipt, count: 38 },
    ];
    for (const bad of tampered) expect(await verifyReceipt(bad, digest)).toBe(false);
    expect(await verifyReceipt(receipt, { ...digest, count: 38 })).toBe(false);
    expect(await verifyReceipt(receipt, digest)).toBe(true);
    expect(await receiptOf(entries, "not-entered")).toBeNull();
  });

  it("keeps leaves and interior nodes apart (0x00 / 0x01) and encodes id and sku unambiguously", async () => {
    const [a, b] = entriesOf(2) as [DrawEntry, DrawEntry];
    expect(await leafHash(a)).toBe(sha(Buffer.of(0), prefixed(a.entryId), prefixed(a.sku)).toString("hex"));
    expect((await entryListDigest([a, b])).root).toBe(sha(Buffer.of(1), leaf(a), leaf(b)).toString("hex"));
    // A one-entry list whose root is an interior node of another list cannot exist: its leaf is 0x00-prefixed.
    const inner = sha(Buffer.of(1), leaf(a), leaf(b)).toString("hex");
    const forged = { entryId: "x", sku: "y", index: 0, count: 1, path: [] };
    expect(await verifyReceipt(forged, { root: inner, count: 1 })).toBe(false);
    expect(await leafHash({ entryId: "ab", sku: "c" })).not.toBe(await leafHash({ entryId: "a", sku: "bc" }));
  });

  it("freezes entries in entryId order and refuses a repeated, badly named or unordered entry", async () => {
    const list = frozenOrder([
      { entryId: "b", sku: "S" },
      { entryId: "B", sku: "S" },
      { entryId: "a", sku: "S" },
    ]);
    expect(list.map((e) => e.entryId)).toEqual(["B", "a", "b"]);
    expect(() => frozenOrder([...list, { entryId: "a", sku: "T" }])).toThrow(/twice/);
    expect(() => frozenOrder([{ entryId: "has space", sku: "S" }])).toThrow(/printable ASCII/);
    expect(() => frozenOrder([{ entryId: "x".repeat(65), sku: "S" }])).toThrow(/printable ASCII/);
    await expect(entryTree([...list].reverse())).rejects.toThrow(/frozen order/);
  });
});

describe("the ranking, the beacon and the allocation", () => {
  it("ranks by HMAC-SHA256(seed, entryId), the same for any input order, and differently for another seed", async () => {
    const entries = entriesOf(50);
    const ranked = await rank(SEED, entries);
    const expected = entries
      .map((e) => ({
        ...e,
        ticket: createHmac("sha256", Buffer.from(SEED, "hex")).update(e.entryId).digest("hex"),
      }))
      .sort((x, y) => (x.ticket < y.ticket ? -1 : 1));
    expect(ranked).toEqual(expected);
    expect(await rank(SEED, [...entries].reverse())).toEqual(ranked);
    const other = await rank("12".repeat(32), entries);
    expect(other.map((e) => e.entryId)).not.toEqual(ranked.map((e) => e.entryId));
    await expect(rank("11", entries)).rejects.toThrow(/32 bytes/);
  });

  it("draws each seed as 32 fresh random bytes", () => {
    const [one, two] = [newSeed(), newSeed()];
    expect(one).toMatch(/^[0-9a-f]{64}$/);
    expect(two).not.toBe(one);
  });

  it("commits with SHA-256 of the seed and mixes the beacon as SHA-256(seed || randomness)", async () => {
    const randomness = "ab".repeat(32);
    expect(await commitmentOf(SEED)).toBe(sha(Buffer.from(SEED, "hex")).toString("hex"));
    expect(await mixBeacon(SEED, { chain: "c", round: 7, randomness })).toBe(
      sha(Buffer.from(SEED, "hex"), Buffer.from(randomness, "hex")).toString("hex"),
    );
  });

  it("checks drand's randomness = SHA-256(signature) on drand mainnet's first round", async () => {
    const signature =
      "8d61d9100567de44682506aea1a7a6fa6e5491cd27a0a0ed349ef6910ac5ac20ff7bc3e09d7c046566c9f7f3c6f3b101" +
      "04990e7cb424998203d8f7de586fb7fa5f60045417a432684f85093b06ca91c769f0e7ca19268375e659c2a2352b4655";
    const randomness = "101297f1ca7dc44ef6088d94ad5fb7ba03455dc33d53ddb412bbc4564ed986ec";
    expect(await drandRandomnessMatches(signature, randomness)).toBe(true);
    expect(await drandRandomnessMatches(signature, "00".repeat(32))).toBe(false);
    expect(await drandRandomnessMatches("not hex", randomness)).toBe(false);
  });

  it("gives each sku's units in rank order, passing a failed capture's unit to the next entry of that sku", () => {
    const ranked = [
      { entryId: "r1", sku: "M" },
      { entryId: "r2", sku: "L" },
      { entryId: "r3", sku: "M" },
      { entryId: "r4", sku: "M" },
      { entryId: "r5", sku: "XL" },
      { entryId: "r6", sku: "L" },
      { entryId: "r7", sku: "M" },
      { entryId: "r8", sku: "L" },
    ];
    const units = { M: 2, L: 1, S: 4 };
    expect(allocate(ranked, units, new Set())).toEqual({ winners: ["r1", "r2", "r3"], passedOnOutside: [] });
    // r3's capture failed: r4 takes the M; r2's too: r6 takes the L. r7 was never reached with an M left.
    expect(allocate(ranked, units, new Set(["r3", "r2", "r7", "nobody"]))).toEqual({
      winners: ["r1", "r4", "r6"],
      passedOnOutside: ["r7", "nobody"],
    });
  });
});

describe("verifyResult", () => {
  it("verifies an honest record, with and without a beacon", async () => {
    const plain = await drawnRecord({ count: 40, units: { S0: 3, S1: 2, S2: 0 }, fail: [true, false, true] });
    expect(await verifyResult(plain.record, plain.entries)).toEqual([]);
    expect(plain.record.passedOn?.length).toBe(2);
    const beacon = await drawnRecord({ count: 40, units: { S0: 3, S1: 2 }, beacon: true });
    expect(await verifyResult(beacon.record, beacon.entries)).toEqual([]);
    const unmixed = { ...beacon.record, winners: plain.record.winners };
    expect((await verifyResult(unmixed, beacon.entries)).map((f) => f.check)).toContain("winners");
  });

  it("names each kind of tampering", async () => {
    const { record, entries } = await drawnRecord({
      count: 30,
      units: { S0: 3, S1: 2 },
      fail: [true],
      beacon: true,
    });
    const winners = record.winners as string[];
    const loser = entries.find((e) => !winners.includes(e.entryId) && !record.passedOn?.includes(e.entryId));
    const checks = async (r: DrawRecord, list: DrawEntry[] = entries): Promise<DrawCheck[]> => [
      ...new Set((await verifyResult(r, list)).map((f) => f.check)),
    ];
    expect(await checks({ ...record, seed: "22".repeat(32) })).toContain("commitment");
    expect(await checks(record, entries.slice(1))).toContain("digest");
    expect(await checks(record, [...entries, { entryId: "~zz", sku: "S0" }])).toContain("digest");
    expect(await checks(record, [entries[0] as DrawEntry, ...entries])).toContain("entries");
    expect(await checks({ ...record, winners: [loser?.entryId as string, ...winners.slice(1)] })).toEqual([
      "winners",
    ]);
    expect(await checks({ ...record, winners: [...winners].reverse() })).toEqual(["winners"]);
    expect(
      await checks({ ...record, passedOn: [...(record.passedOn ?? []), loser?.entryId as string] }),
    ).toEqual(["passedOn"]);
    expect(await checks({ ...record, beaconRandomness: "33".repeat(32) })).toContain("winners");
    for (const state of ["open", "closed", "revealed"] satisfies DrawState[]) {
      expect(await verifyResult({ ...record, state }, entries)).toEqual([
        { check: "record", detail: `the draw is "${state}", not drawn yet` },
      ]);
    }
    expect(await checks({ ...record, beaconRandomness: undefined })).toEqual(["record"]);
  });
});
