import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readSettings } from "../src/pricing/pricing.storage";
import { ADMIN, admin, brokenD1, call, JSON_HEADERS } from "./helpers";

/**
 * The shop's tax rates and shipping zones: edited by the operator through the admin API (versioned,
 * with If-Match), read by checkout at the edge from KV, so D1 down does not stop pricing.
 */
const settings = {
  taxMode: "inclusive",
  taxRates: [
    { country: "DE", rate: 19 },
    { country: "AT", rate: 20 },
    { country: "AT", region: "JM", rate: 10.5 },
  ],
  zones: [
    {
      id: "dach",
      name: "Germany and Austria",
      countries: [{ country: "DE" }, { country: "AT" }],
      taxShipping: true,
      methods: [
        { id: "standard", name: "Standard", currency: "EUR", rate: { kind: "flat", amount: 495 } },
        {
          id: "express",
          name: "Express",
          currency: "EUR",
          rate: {
            kind: "bands",
            bands: [
              { from: 0, amount: 1_500 },
              { from: 10_000, amount: 900 },
            ],
          },
        },
      ],
    },
  ],
};

async function put(body: unknown, headers: Record<string, string> = {}) {
  return call("/v1/admin/pricing", {
    method: "PUT",
    headers: { ...ADMIN, ...JSON_HEADERS, ...headers },
    body: JSON.stringify(body),
  });
}

async function current() {
  const response = await admin("GET", "/v1/admin/pricing");
  expect(response.status).toBe(200);
  return {
    etag: response.headers.get("ETag") ?? "",
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe("pricing settings", () => {
  it("are edited over the version read, refused over one that moved on, and kept whole", async () => {
    const before = await current();
    expect(before.etag).toBe(`"${before.body.version}"`);

    const saved = await put(settings, { "If-Match": before.etag });
    expect(saved.status).toBe(200);
    const body = (await saved.json()) as Record<string, unknown>;
    expect(body.version).toBe(Number(before.body.version) + 1);
    expect(body.zones).toMatchObject([{ id: "dach", taxShipping: true }]);
    expect(saved.headers.get("ETag")).toBe(`"${body.version}"`);

    // A second edit made over the version read before the first is refused, and changes nothing.
    const stale = await put({ ...settings, taxMode: "exclusive" }, { "If-Match": before.etag });
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { code: string }).code).toBe("settings_changed");
    expect((await current()).body).toEqual(body);

    const malformed = await put(settings, { "If-Match": "yesterday" });
    expect(malformed.status).toBe(400);
  });

  it("refuse what does not hold together, naming the field, and change nothing", async () => {
    const before = await current();
    const cases: [unknown, string][] = [
      [{ ...settings, taxRates: [{ country: "DE", rate: 19.125 }] }, "taxRates.0.rate"],
      [
        {
          ...settings,
          taxRates: [
            { country: "DE", rate: 19 },
            { country: "DE", rate: 7 },
          ],
        },
        "taxRates.1",
      ],
      [{ ...settings, taxRates: [{ country: "Germany", rate: 19 }] }, "taxRates.0.country"],
      [{ ...settings, zones: [settings.zones[0], settings.zones[0]] }, "zones.1.id"],
      [
        {
          ...settings,
          zones: [
            {
              ...settings.zones[0],
              methods: [
                {
                  id: "x",
                  name: "X",
                  currency: "EUR",
                  rate: { kind: "bands", bands: [{ from: 10, amount: 1 }] },
                },
              ],
            },
          ],
        },
        "zones.0.methods.0.rate.bands",
      ],
      [{ ...settings, surcharge: 5 }, "surcharge"],
      [{ ...settings, zones: [{ ...settings.zones[0], methods: [] }] }, "zones.0.methods"],
    ];
    for (const [body, path] of cases) {
      const response = await put(body);
      expect(response.status, path).toBe(400);
      const problem = (await response.json()) as { code: string; errors: { path: string }[] };
      expect(problem.code).toBe("validation_failed");
      expect(problem.errors.map((error) => error.path)).toContain(path);
    }
    expect((await current()).body).toEqual(before.body);
  });

  it("are read by checkout's edge from KV while D1 is down", async () => {
    const saved = (await (await put(settings)).json()) as { version: number };
    const scope = {
      env: { ...env, DB: brokenD1 },
      origin: `https://pricing-${saved.version}.example`,
      waitUntil: () => undefined,
    };
    const read = await readSettings(scope);
    expect(read.version).toBe(saved.version);
    expect(read.taxRates).toContainEqual({ country: "AT", region: "JM", rate: 10.5 });
  });

  it("answer 503 at checkout's edge when neither KV nor D1 can be read", async () => {
    // A change makes this isolate forget what it remembered of them.
    expect((await put(settings)).status).toBe(200);
    const brokenKv = new Proxy(env.CATALOG, {
      get(object, property) {
        if (property === "get") {
          return () => Promise.reject(new Error("KV GET failed: simulated outage"));
        }
        const value = Reflect.get(object, property);
        return typeof value === "function" ? value.bind(object) : value;
      },
    });
    const scope = {
      env: { ...env, DB: brokenD1, CATALOG: brokenKv },
      origin: "https://pricing-outage.example",
      waitUntil: () => undefined,
    };
    await expect(readSettings(scope)).rejects.toMatchObject({ code: "service_unavailable" });
  });

  it("need the admin token", async () => {
    expect((await call("/v1/admin/pricing")).status).toBe(401);
    const response = await call("/v1/admin/pricing", {
      method: "PUT",
      headers: JSON_HEADERS,
      body: JSON.stringify(settings),
    });
    expect(response.status).toBe(401);
  });
});
