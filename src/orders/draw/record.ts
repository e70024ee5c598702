import type { DrawRecord } from "../../draws/proof";
import type { DrawRow, DrawStore } from "./draw.store";
import type { Setup } from "./draw-setup";

/** A draw's public record (see proof.ts): what is published grows with the phase. */
export function recordOf(draw: DrawRow, setup: Setup, store: DrawStore): DrawRecord {
  const state = (
    {
      pooling: "open",
      short: "open",
      open: "open",
      closing: "open",
      sealed: "closed",
      drawing: "revealed",
      drawn: "drawn",
      cancelled: draw.digestRoot ? "closed" : "open",
    } as const
  )[draw.phase];
  const record: DrawRecord = {
    drop: setup.product,
    opensAt: new Date(setup.opensAt).toISOString(),
    closesAt: new Date(setup.closesAt).toISOString(),
    commitment: draw.commitment,
    ...(setup.beacon ? { beacon: setup.beacon } : {}),
    state,
    ...(draw.phase === "cancelled" ? { cancelled: draw.detail ?? "cancelled" } : {}),
  };
  if (state === "open") return record;
  record.entryDigest = { root: draw.digestRoot ?? "", count: draw.digestCount ?? 0 };
  record.unitsBySku = setup.units;
  if (state === "closed") return record;
  record.seed = draw.seed;
  if (draw.beaconRandomness) record.beaconRandomness = draw.beaconRandomness;
  if (state === "revealed") return record;
  record.winners = store.withOutcome("won").map((entry) => entry.entryId);
  record.passedOn = store.withOutcome("passed").map((entry) => entry.entryId);
  return record;
}
