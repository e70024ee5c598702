import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "../http/router";
import { scopeOf } from "../http/scope";
import { PricingSettings, PricingSettingsInput } from "../pricing/pricing.settings";
import { loadSettings, saveSettings } from "../pricing/pricing.storage";
import { AppError } from "../shared/errors";
import { problems } from "../shared/problem";

const security = [{ adminToken: [] }];
const settings = {
  description: "The shop's pricing settings; `ETag` names their version",
  headers: z.object({ ETag: z.string() }),
  content: { "application/json": { schema: PricingSettings } },
};

const getRoute = createRoute({
  method: "get",
  path: "/pricing",
  operationId: "getPricingSettings",
  tags: ["Admin"],
  summary: "Tax rates and shipping zones, as checkout prices carts with them",
  security,
  responses: { 200: settings, ...problems({ status: 401, description: "Missing or wrong admin token" }) },
});

const putRoute = createRoute({
  method: "put",
  path: "/pricing",
  operationId: "putPricingSettings",
  tags: ["Admin"],
  summary: "Replace the tax rates and shipping zones (with If-Match: only over the version read)",
  description:
    "Checkout at this location prices with the new settings at once; elsewhere within 30 s (and KV's own propagation). An order keeps the totals it was accepted with.",
  security,
  request: {
    headers: z.object({
      "if-match": z.string().optional().openapi({
        description: 'The ETag of the settings read, e.g. "3"; the change is refused if they moved on',
      }),
    }),
    body: { required: true, content: { "application/json": { schema: PricingSettingsInput } } },
  },
  responses: {
    200: settings,
    ...problems(
      { status: 400, description: "Invalid body (code validation_failed or invalid_json)" },
      { status: 401, description: "Missing or wrong admin token" },
      {
        status: 412,
        description: "The settings changed since the version named in If-Match (code settings_changed)",
      },
      { status: 413, description: "Body over 64 KiB" },
      { status: 415, description: "Body is not JSON" },
    ),
  },
});

const etagOf = (version: number) => `"${version}"`;

/** `"3"` (or `W/"3"`) as the version 3; anything else is the client's error. */
function versionOf(header: string | undefined): number | null {
  if (header === undefined || header.trim() === "*") return null;
  const match = /^(?:W\/)?"(\d{1,9})"$/.exec(header.trim());
  if (!match) {
    throw new AppError("validation_failed", {
      detail: 'If-Match must be the ETag the settings were read with, such as "3"',
      errors: [{ path: "if-match", message: "Not an ETag of these settings", in: "header" }],
    });
  }
  return Number(match[1]);
}

export const adminPricingRoutes = createRouter()
  .openapi(getRoute, async (c) => {
    const current = await loadSettings(c.env);
    c.header("ETag", etagOf(current.version));
    c.header("Cache-Control", "no-store");
    return c.json(current, 200);
  })
  .openapi(putRoute, async (c) => {
    const ifVersion = versionOf(c.req.valid("header")["if-match"]);
    const saved = await saveSettings(scopeOf(c), c.req.valid("json"), ifVersion);
    c.header("ETag", etagOf(saved.version));
    return c.json(saved, 200);
  });
