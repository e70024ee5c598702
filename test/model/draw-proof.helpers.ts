import {
  allocate,
  commitmentOf,
  type DrawEntry,
  type DrawRecord,
  effectiveSeed,
  entryListDigest,
  frozenOrder,
  rank,
} from "../../src/draws/proof";

/** `count` entries over the skus S0, S1, S2 in turn, in frozen order. */
export function entriesOf(count: number, skus = 3): DrawEntry[] {
  return frozenOrder(
    Array.from({ length: count }, (_, i) => ({
      entryId: `e${String(i * 7919).padStart(6, "0")}`,
      sku: `S${i % skus}`,
    })),
  );
}

/**
 * A drawn record as an honest runner would publish it: it walks the ranking and tries to capture
 * each entry that still has a unit; `fail[k]` says whether the k-th capture tried failed (passed on).
 */
export async function drawnRecord(options: {
  count?: number;
  entries?: DrawEntry[];
  units: Record<string, number>;
  fail?: boolean[];
  beacon?: boolean;
  seed?: string;
}): Promise<{ record: DrawRecord; entries: DrawEntry[] }> {
  const entries = options.entries ?? entriesOf(options.count ?? 0);
  const seed = options.seed ?? "5a".repeat(32);
  const beacon = options.beacon ? { chain: "52db9ba7".repeat(8), round: 1_000_000 } : undefined;
  const beaconRandomness = options.beacon ? "c3".repeat(32) : undefined;
  const record: DrawRecord = {
    drop: "air-max-draw",
    opensAt: "2026-12-07T09:00:00Z",
    closesAt: "2026-12-07T10:00:00Z",
    commitment: await commitmentOf(seed),
    ...(beacon ? { beacon } : {}),
    state: "drawn",
    entryDigest: await entryListDigest(entries),
    unitsBySku: options.units,
    seed,
    ...(beaconRandomness ? { beaconRandomness } : {}),
  };
  const ranked = await rank(await effectiveSeed(record), entries);
  const left = new Map(Object.entries(options.units));
  const passedOn: string[] = [];
  let tried = 0;
  for (const { entryId, sku } of ranked) {
    const units = left.get(sku) ?? 0;
    if (units <= 0) continue;
    if (options.fail?.[tried++]) passedOn.push(entryId);
    else left.set(sku, units - 1);
  }
  const { winners } = allocate(ranked, options.units, new Set(passedOn));
  return { record: { ...record, winners, passedOn }, entries };
}
