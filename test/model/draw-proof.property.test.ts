import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type DrawEntry, type DrawRecord, frozenOrder, verifyResult } from "../../src/draws/proof";
import { drawnRecord } from "./draw-proof.helpers";

/**
 * Random draws, published honestly, always verify; one random tampering never does. Seeded and
 * replayable: DRAW_SEED=<seed> (and fast-check's printed path) replays a failure; DRAW_RUNS sets how many.
 */
const SEED = Number(process.env.DRAW_SEED ?? 20261207);
const RUNS = Number(process.env.DRAW_RUNS ?? 200);
const SKUS = ["S0", "S1", "S2"];

const draws = fc.record({
  entries: fc.uniqueArray(
    fc.record({
      entryId: fc.string({ unit: fc.constantFrom(..."aB0-_~!z"), minLength: 1, maxLength: 6 }),
      sku: fc.constantFrom(...SKUS),
    }),
    { selector: (entry) => entry.entryId, minLength: 1, maxLength: 40 },
  ),
  units: fc.record({ S0: fc.nat(6), S1: fc.nat(6), S2: fc.nat(6) }),
  fail: fc.array(fc.boolean(), { maxLength: 20 }),
  beacon: fc.boolean(),
  seed: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex")),
  pick: fc.nat(),
});

type Draw = { record: DrawRecord; entries: DrawEntry[] };
const flip = (hex: string) => `${hex[0] === "0" ? "1" : "0"}${hex.slice(1)}`;

/** Each tampering a verifier must catch; null where it does not apply to this draw. */
function tamperings({ record, entries }: Draw, k: number): Array<() => Draw | null> {
  const winners = record.winners ?? [];
  const passedOn = record.passedOn ?? [];
  const losers = entries.filter((e) => !winners.includes(e.entryId) && !passedOn.includes(e.entryId));
  const loser = losers[k % Math.max(1, losers.length)];
  const at = k % entries.length;
  const entry = entries[at] as DrawEntry;
  const units = record.unitsBySku ?? {};
  // Units beyond the entries of a sku change nothing; one fewer of a sku whose units all went does.
  const soldOut = (sku: string) =>
    (units[sku] ?? 0) > 0 &&
    winners.filter((id) => entries.find((e) => e.entryId === id)?.sku === sku).length === units[sku];
  const withRecord = (changes: Partial<DrawRecord>) => ({ record: { ...record, ...changes }, entries });
  return [
    () => withRecord({ seed: flip(record.seed as string) }),
    () => withRecord({ commitment: flip(record.commitment) }),
    () => ({ record, entries: entries.filter((_, i) => i !== at) }),
    () => ({ record, entries: frozenOrder([...entries, { entryId: "#new", sku: "S0" }]) }),
    () => ({
      record,
      entries: entries.map((e, i) => (i === at ? { ...e, sku: e.sku === "S0" ? "S1" : "S0" } : e)),
    }),
    () => ({ record, entries: [...entries.slice(0, at + 1), entry, ...entries.slice(at + 1)] }),
    () =>
      loser && winners.length > 0 ? withRecord({ winners: [loser.entryId, ...winners.slice(1)] }) : null,
    () =>
      winners.length > 1
        ? withRecord({ winners: [winners[1], winners[0], ...winners.slice(2)] as string[] })
        : null,
    () => (winners.length > 0 ? withRecord({ winners: winners.slice(0, -1) }) : null),
    () => (loser ? withRecord({ passedOn: [...passedOn, loser.entryId] }) : null),
    () => (passedOn.length > 0 ? withRecord({ passedOn: passedOn.slice(1) }) : null),
    () => (loser ? withRecord({ unitsBySku: { ...units, [loser.sku]: (units[loser.sku] ?? 0) + 1 } }) : null),
    () => {
      const sku = SKUS.find(soldOut);
      return sku ? withRecord({ unitsBySku: { ...units, [sku]: (units[sku] ?? 1) - 1 } }) : null;
    },
  ];
}

describe("draws, random and replayable", () => {
  it(`verify when honest and fail under each single tampering (seed ${SEED}, ${RUNS} draws)`, async () => {
    await fc.assert(
      fc.asyncProperty(draws, async ({ entries, units, fail, beacon, seed, pick }) => {
        const draw = await drawnRecord({ entries: frozenOrder(entries), units, fail, beacon, seed });
        expect(await verifyResult(draw.record, draw.entries)).toEqual([]);
        for (const [n, tamper] of tamperings(draw, pick).entries()) {
          const tampered = tamper();
          if (!tampered) continue;
          const failures = await verifyResult(tampered.record, tampered.entries);
          expect(failures, `tampering ${n} went unnoticed`).not.toEqual([]);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  });
});
