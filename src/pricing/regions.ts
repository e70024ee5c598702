/**
 * Regions as addresses give them, made into one form for pricing: an address may name its region by
 * its ISO 3166-2 code (`CA`, or in full `US-CA`) or spell it out (`California`, `québec`), and a tax
 * rate or a shipping zone may be written either way too. Both sides are matched on the subdivision's
 * code, so "California" gets California's rate. Names are known for the countries tax tables and
 * zones most often split by region: the United States (states, DC and the territories with postal
 * codes), Canada's provinces and territories (in English and French) and Australia's states and
 * territories. Elsewhere a region is matched as written, ignoring case, accents and punctuation.
 */

type Names = Record<string, readonly string[]>;

const US: Names = {
  AL: ["Alabama"],
  AK: ["Alaska"],
  AZ: ["Arizona"],
  AR: ["Arkansas"],
  CA: ["California"],
  CO: ["Colorado"],
  CT: ["Connecticut"],
  DE: ["Delaware"],
  DC: ["District of Columbia", "Washington DC", "Washington D.C."],
  FL: ["Florida"],
  GA: ["Georgia"],
  HI: ["Hawaii", "Hawaiʻi"],
  ID: ["Idaho"],
  IL: ["Illinois"],
  IN: ["Indiana"],
  IA: ["Iowa"],
  KS: ["Kansas"],
  KY: ["Kentucky"],
  LA: ["Louisiana"],
  ME: ["Maine"],
  MD: ["Maryland"],
  MA: ["Massachusetts"],
  MI: ["Michigan"],
  MN: ["Minnesota"],
  MS: ["Mississippi"],
  MO: ["Missouri"],
  MT: ["Montana"],
  NE: ["Nebraska"],
  NV: ["Nevada"],
  NH: ["New Hampshire"],
  NJ: ["New Jersey"],
  NM: ["New Mexico"],
  NY: ["New York"],
  NC: ["North Carolina"],
  ND: ["North Dakota"],
  OH: ["Ohio"],
  OK: ["Oklahoma"],
  OR: ["Oregon"],
  PA: ["Pennsylvania"],
  RI: ["Rhode Island"],
  SC: ["South Carolina"],
  SD: ["South Dakota"],
  TN: ["Tennessee"],
  TX: ["Texas"],
  UT: ["Utah"],
  VT: ["Vermont"],
  VA: ["Virginia"],
  WA: ["Washington"],
  WV: ["West Virginia"],
  WI: ["Wisconsin"],
  WY: ["Wyoming"],
  AS: ["American Samoa"],
  GU: ["Guam"],
  MP: ["Northern Mariana Islands"],
  PR: ["Puerto Rico"],
  VI: ["U.S. Virgin Islands", "US Virgin Islands", "Virgin Islands"],
};

const CA: Names = {
  AB: ["Alberta"],
  BC: ["British Columbia", "Colombie-Britannique"],
  MB: ["Manitoba"],
  NB: ["New Brunswick", "Nouveau-Brunswick"],
  NL: ["Newfoundland and Labrador", "Newfoundland & Labrador", "Newfoundland", "Terre-Neuve-et-Labrador"],
  NS: ["Nova Scotia", "Nouvelle-Écosse"],
  NT: ["Northwest Territories", "Territoires du Nord-Ouest"],
  NU: ["Nunavut"],
  ON: ["Ontario"],
  PE: ["Prince Edward Island", "Île-du-Prince-Édouard"],
  QC: ["Quebec", "Québec"],
  SK: ["Saskatchewan"],
  YT: ["Yukon", "Yukon Territory"],
};

const AU: Names = {
  ACT: ["Australian Capital Territory"],
  NSW: ["New South Wales"],
  NT: ["Northern Territory"],
  QLD: ["Queensland"],
  SA: ["South Australia"],
  TAS: ["Tasmania"],
  VIC: ["Victoria"],
  WA: ["Western Australia"],
};

/**
 * Upper case, without accents, spaces, punctuation or modifier letters (Hawaiʻi's ʻokina): how a
 * region's spellings are compared.
 */
const folded = (text: string) =>
  text
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toUpperCase()
    .replace(/[^\p{L}\p{N}]|\p{Lm}/gu, "");

/** Per country: every folded spelling (the code included) to the subdivision's code. */
const BY_COUNTRY = new Map(
  Object.entries({ US, CA, AU }).map(([country, names]) => [
    country,
    new Map(
      Object.entries(names).flatMap(([code, spellings]) => [
        [folded(code), code],
        ...spellings.map((name): [string, string] => [folded(name), code]),
      ]),
    ),
  ]),
);

/**
 * A region in the one form pricing compares: the subdivision's code for a known name or code (`CA`
 * for "California", "california", "US-CA"), else the region as written, folded. Undefined for none.
 */
export function regionCode(country: string, region: string | undefined): string | undefined {
  if (region === undefined) return undefined;
  const upper = country.toUpperCase();
  const trimmed = region.trim();
  // An ISO 3166-2 code in full names its country first: `US-CA`.
  const bare = trimmed.toUpperCase().startsWith(`${upper}-`) ? trimmed.slice(upper.length + 1) : trimmed;
  const key = folded(bare);
  if (key === "") return undefined;
  return BY_COUNTRY.get(upper)?.get(key) ?? key;
}

/** A place to price for, its region made into the form pricing compares (see regionCode). */
export function placeOf(place: { country: string; region?: string | undefined }) {
  const region = regionCode(place.country, place.region);
  return region === undefined ? { country: place.country } : { country: place.country, region };
}
