import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS, taxTermsFor, zoneFor } from "../../src/pricing/pricing.settings";
import { placeOf, regionCode } from "../../src/pricing/regions";

/** Regions as addresses spell them, made into one form: no workerd. */
describe("regions", () => {
  it("are made into their ISO 3166-2 code from the code, the full code or the name, ignoring case and accents", () => {
    const cases: [string, string, string][] = [
      ["US", "CA", "CA"],
      ["US", "ca", "CA"],
      ["US", "US-CA", "CA"],
      ["US", "California", "CA"],
      ["US", "  new   york ", "NY"],
      ["US", "District of Columbia", "DC"],
      ["US", "Washington, D.C.", "DC"],
      ["US", "Hawaiʻi", "HI"],
      ["CA", "Québec", "QC"],
      ["CA", "QUEBEC", "QC"],
      ["CA", "Île-du-Prince-Édouard", "PE"],
      ["CA", "Newfoundland & Labrador", "NL"],
      ["CA", "CA-BC", "BC"],
      ["AU", "New South Wales", "NSW"],
      ["AU", "vic", "VIC"],
      ["AU", "AU-WA", "WA"],
    ];
    for (const [country, region, code] of cases) expect(regionCode(country, region), region).toBe(code);
  });

  it("read the same name as each country's own subdivision", () => {
    // WA is Washington in the United States and Western Australia in Australia.
    expect(regionCode("US", "Washington")).toBe("WA");
    expect(regionCode("AU", "Western Australia")).toBe("WA");
    expect(regionCode("AU", "Washington")).toBe("WASHINGTON");
    expect(regionCode("US", "Northern Territory")).toBe("NORTHERNTERRITORY");
  });

  it("are matched as written elsewhere, ignoring case, accents and punctuation, and none is none", () => {
    expect(regionCode("DE", "Baden-Württemberg")).toBe(regionCode("DE", "baden wurttemberg"));
    expect(regionCode("US", undefined)).toBeUndefined();
    expect(regionCode("US", "  ")).toBeUndefined();
    expect(placeOf({ country: "US", region: " " })).toEqual({ country: "US" });
    expect(placeOf({ country: "US", region: "texas" })).toEqual({ country: "US", region: "TX" });
  });

  it("find the region's rate and zone whichever way the settings and the address spell it", () => {
    const settings = {
      ...DEFAULT_SETTINGS,
      taxRates: [
        { country: "US", rate: 1 },
        { country: "US", region: "California", rate: 7.25 },
        { country: "CA", region: "QC", rate: 14.975 },
      ],
      zones: [
        {
          id: "west",
          name: "West",
          countries: [{ country: "US", regions: ["ca", "Oregon"] }],
          taxShipping: false,
          methods: [{ id: "g", name: "G", currency: "USD", rate: { kind: "flat" as const, amount: 1 } }],
        },
      ],
    };
    expect(taxTermsFor(settings, placeOf({ country: "US", region: "US-CA" })).rate).toBe(725);
    expect(taxTermsFor(settings, placeOf({ country: "US", region: "Nevada" })).rate).toBe(100);
    expect(taxTermsFor(settings, placeOf({ country: "CA", region: "québec" })).rate).toBe(1498);
    expect(taxTermsFor(settings, placeOf({ country: "US" })).rate).toBe(100);
    expect(zoneFor(settings, placeOf({ country: "US", region: "OR" }))?.id).toBe("west");
    expect(zoneFor(settings, placeOf({ country: "US", region: "California" }))?.id).toBe("west");
    expect(zoneFor(settings, placeOf({ country: "US", region: "TX" }))).toBeNull();
  });
});
