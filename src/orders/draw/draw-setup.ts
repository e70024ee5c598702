import { z } from "zod";
import type { DrawWindow } from "../../draws/entries.store";
import type { DrawPhase } from "./draw.store";

/** A draw's settings as its object keeps them (see DrawRunner.setUp). */
export const Setup = z
  .object({
    product: z.string().min(1).max(64),
    opensAt: z.number().int(),
    closesAt: z.number().int(),
    units: z.record(z.string().min(1).max(64), z.number().int().min(1).max(100_000)),
    buckets: z.record(z.string().min(1).max(64), z.number().int().min(1).max(32)),
    titles: z.record(z.string().min(1).max(64), z.string().max(600)),
    beacon: z.object({ chain: z.string(), round: z.number().int() }).strict().optional(),
  })
  .strict();
export type DrawSetup = z.input<typeof Setup>;
export type Setup = z.infer<typeof Setup>;

export type DrawStatus = {
  phase: DrawPhase;
  detail: string | null;
  commitment: string;
  opensAt: string;
  closesAt: string;
  /** When the draw was cancelled (null: it was not). */
  cancelledAt: string | null;
  units: Record<string, number>;
  /** Units held for the draw and not yet sold to a winner. */
  held: number;
  /** Units held for the draw and given back to stock (nobody won them, or the draw was cancelled or short); never the units it never held. */
  givenBack: number;
  /** Entries in the frozen list (once the draw closed). */
  entries: number;
  won: number;
  passedOn: number;
};

export const windowOfSetup = (setup: Setup): DrawWindow => ({
  product: setup.product,
  opensAt: setup.opensAt,
  closesAt: setup.closesAt,
});

/** What makes two setups the same draw: the shop's settings (not what is read from the catalog then). */
export const settingsOf = (setup: Setup) =>
  JSON.stringify([
    setup.product,
    setup.opensAt,
    setup.closesAt,
    Object.entries(setup.units).sort(([a], [b]) => (a < b ? -1 : 1)),
    setup.beacon ?? null,
  ]);
