import { z } from "@hono/zod-openapi";
import { singleLine } from "../shared/text";
import type { TaxTerms } from "./pricing";
import { placeOf, regionCode } from "./regions";

/**
 * The shop's pricing settings, as the operator edits them: whether prices include tax, the tax rates by
 * country and region, and the shipping zones with their methods. One document, versioned; checkout
 * reads it at the edge (see pricing.storage.ts).
 */

const Country = z.string().regex(/^[A-Z]{2}$/, "ISO 3166-1 alpha-2 code such as US");
const Region = singleLine(100).openapi({
  description:
    "ISO 3166-2 code (CA or US-CA) or the region's name (California), matched either way, ignoring case and accents",
});
const Id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "Lowercase letters, digits and hyphens, at most 63")
  .openapi({ example: "standard" });
const Currency = z.string().regex(/^[A-Z]{3}$/, "Must be an ISO 4217 code such as USD");
const Amount = z.number().int().min(0).max(1_000_000_000_00);

/** A percentage with at most two decimals (8.25), kept as basis points (825). */
const Percent = z
  .number()
  .min(0)
  .max(100)
  .refine(
    (value) =>
      Number.isInteger(Math.round(value * 100)) && Math.abs(value * 100 - Math.round(value * 100)) < 1e-6,
    {
      message: "At most two decimals",
    },
  )
  .openapi({ description: "Percent, at most two decimals", example: 8.25 });

const TaxRate = z
  .object({
    country: Country,
    region: Region.optional(),
    rate: Percent,
  })
  .strict();

const Rate = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("flat"), amount: Amount }).strict(),
  z
    .object({
      kind: z.literal("bands"),
      bands: z
        .array(z.object({ from: Amount, amount: Amount }).strict())
        .min(1)
        .max(20)
        .refine((bands) => bands.some((band) => band.from === 0), {
          message: "One band must start at 0, so every subtotal has a charge",
        }),
    })
    .strict(),
  z.object({ kind: z.literal("free_above"), amount: Amount, threshold: Amount }).strict(),
]);

const Method = z
  .object({
    id: Id,
    name: singleLine(100),
    currency: Currency,
    rate: Rate.openapi({
      description:
        "flat: one amount; bands: by the cart's subtotal after its discount, the band with the largest `from` not above it; free_above: `amount`, free from `threshold` up (minor units)",
    }),
  })
  .strict();

const Zone = z
  .object({
    id: Id,
    name: singleLine(100),
    countries: z
      .array(z.object({ country: Country, regions: z.array(Region).max(100).optional() }).strict())
      .min(1)
      .max(250),
    taxShipping: z.boolean().default(false).openapi({ description: "Shipping into this zone is taxed" }),
    methods: z.array(Method).min(1).max(20),
  })
  .strict()
  .superRefine((zone, ctx) => {
    const ids = new Set<string>();
    zone.methods.forEach((method, index) => {
      if (ids.has(method.id))
        ctx.addIssue({ code: "custom", path: ["methods", index, "id"], message: "Used twice" });
      ids.add(method.id);
    });
  });

export const PricingSettingsInput = z
  .object({
    taxMode: z
      .enum(["inclusive", "exclusive"])
      .default("exclusive")
      .openapi({ description: "Catalog prices include tax (EU) or tax is added on top (US)" }),
    taxRates: z.array(TaxRate).max(2_000).default([]),
    zones: z.array(Zone).max(100).default([]),
  })
  .strict()
  .superRefine((settings, ctx) => {
    const rates = new Set<string>();
    settings.taxRates.forEach((rate, index) => {
      const key = `${rate.country}|${regionCode(rate.country, rate.region) ?? ""}`;
      if (rates.has(key))
        ctx.addIssue({ code: "custom", path: ["taxRates", index], message: "Same place twice" });
      rates.add(key);
    });
    const zones = new Set<string>();
    settings.zones.forEach((zone, index) => {
      if (zones.has(zone.id))
        ctx.addIssue({ code: "custom", path: ["zones", index, "id"], message: "Used twice" });
      zones.add(zone.id);
    });
  })
  .openapi("PricingSettingsInput");
export type PricingSettingsInput = z.input<typeof PricingSettingsInput>;

export const PricingSettings = z
  .object({
    taxMode: z.enum(["inclusive", "exclusive"]),
    taxRates: z.array(TaxRate),
    zones: z.array(Zone),
    version: z.number().int().min(0).openapi({ description: "Bumped by every change; 0 before the first" }),
    updatedAt: z.iso.datetime().nullable(),
  })
  .openapi("PricingSettings");
export type PricingSettings = z.infer<typeof PricingSettings>;

/** What a shop that never set anything has: prices as they are, no tax, no shipping charged. */
export const DEFAULT_SETTINGS: PricingSettings = {
  taxMode: "exclusive",
  taxRates: [],
  zones: [],
  version: 0,
  updatedAt: null,
};

/** Where a cart ships: its region by code or by name (see regions.ts), matched in either spelling. */
export type Place = { country: string; region?: string | undefined };
export type ShippingMethod = z.infer<typeof Method>;

/**
 * Whether a region the settings name (in any spelling) is the place's. A place's region is made a code
 * where pricing takes the address (placeOf); made one again here, it stays the same.
 */
const sameRegion = (country: string, region: string, place: Place) =>
  place.region !== undefined && regionCode(country, region) === place.region;

/**
 * The zone that ships to a place: one that names its region wins over one that names only its country;
 * between equals, the first listed.
 */
export function zoneFor(settings: PricingSettings, asked: Place) {
  const place = placeOf(asked);
  let best: { zone: PricingSettings["zones"][number]; exact: boolean } | null = null;
  for (const zone of settings.zones) {
    for (const entry of zone.countries) {
      if (entry.country !== place.country) continue;
      const regions = entry.regions ?? [];
      const exact = regions.some((region) => sameRegion(entry.country, region, place));
      if (regions.length > 0 && !exact) continue;
      if (!best || (exact && !best.exact)) best = { zone, exact };
    }
  }
  return best?.zone ?? null;
}

/** The methods that ship to a place, in a cart's currency. */
export function methodsFor(settings: PricingSettings, place: Place, currency: string): ShippingMethod[] {
  return zoneFor(settings, place)?.methods.filter((method) => method.currency === currency) ?? [];
}

/** The tax at a place: its region's rate, else its country's, else none. */
export function taxTermsFor(settings: PricingSettings, place: Place | null): TaxTerms {
  const rateOf = (percent: number) => Math.round(percent * 100);
  const onShipping = place ? (zoneFor(settings, place)?.taxShipping ?? false) : false;
  if (!place) return { mode: settings.taxMode, rate: 0, onShipping };
  const at = placeOf(place);
  const regional = settings.taxRates.find(
    (rate) =>
      rate.country === place.country &&
      rate.region !== undefined &&
      sameRegion(rate.country, rate.region, at),
  );
  const national = settings.taxRates.find(
    (rate) => rate.country === place.country && rate.region === undefined,
  );
  const found = regional ?? national;
  return { mode: settings.taxMode, rate: found ? rateOf(found.rate) : 0, onShipping };
}
