import { eq, sql } from "drizzle-orm";
import { database } from "../db/client";
import { pricingSettings } from "../db/schema";
import { background, type Scope } from "../http/scope";
import { EdgeMemo } from "../shared/edge-memo";
import { AppError } from "../shared/errors";
import { DEFAULT_SETTINGS, PricingSettings, PricingSettingsInput } from "./pricing.settings";

/**
 * Where the pricing settings live: D1 is their record (one row, versioned); KV carries a copy written
 * through on every change, which checkout reads at the edge, so pricing a cart needs no D1 (D1 down
 * does not stop checkout); each isolate remembers it for MEMO_TTL_SECONDS.
 *
 * A change, and what is left if the worker dies (or a call throws) between two awaits:
 * - the D1 write is the change (or not made: 503, nothing changed); the KV copy is written after it.
 *   Should that fail or the worker stop in between, KV keeps the version before, and the scheduled
 *   republish (every cron period) copies D1's newer version over it. Until then checkout prices with
 *   the previous settings, as it does anyway for up to MEMO_TTL_SECONDS (plus KV's own propagation)
 *   at other locations after any change.
 */
const KV_KEY = "pricing:settings";
const MEMO_TTL_SECONDS = 30;

function memo(scope: Scope) {
  return new EdgeMemo("pricing-settings", scope.origin);
}

function parsed(text: string): PricingSettings {
  return PricingSettings.parse(JSON.parse(text));
}

/** The settings as D1 has them (the default ones before the first change). */
export async function loadSettings(env: Env): Promise<PricingSettings> {
  const [row] = await database(env.DB).select().from(pricingSettings).where(eq(pricingSettings.id, 1));
  return row ? parsed(row.body) : DEFAULT_SETTINGS;
}

/**
 * The settings as checkout reads them: this isolate's memory, then KV, then D1. KV without the key
 * means no change was ever published, unless D1 says otherwise; with both unreachable the caller
 * answers 503 (pricing a cart with settings that may be wrong is worse than asking to retry).
 */
export async function readSettings(scope: Scope): Promise<PricingSettings> {
  const remembered = await memo(scope).get("current");
  if (remembered) return parsed(remembered);
  const published = await scope.env.CATALOG.get(KV_KEY).catch(() => undefined);
  let settings: PricingSettings;
  if (typeof published === "string") settings = parsed(published);
  else {
    try {
      settings = await loadSettings(scope.env);
    } catch (error) {
      throw new AppError("service_unavailable", {
        detail: "The shop's pricing settings cannot be read right now; retry shortly",
        headers: { "Retry-After": "1" },
        cause: error,
      });
    }
    // Published again where KV lost it (or never had it after a failed write-through).
    if (published === null && settings.version > 0)
      background(scope, "pricing settings to KV", publish(scope.env, settings));
  }
  background(
    scope,
    "pricing settings memo",
    memo(scope).put("current", JSON.stringify(settings), MEMO_TTL_SECONDS),
  );
  return settings;
}

function publish(env: Env, settings: PricingSettings): Promise<void> {
  return env.CATALOG.put(KV_KEY, JSON.stringify(settings));
}

/**
 * Replaces the settings. With `ifVersion`, only if they are still at that version (412 otherwise), so
 * an operator's edit of what they read never silently undoes another's made since.
 */
export async function saveSettings(
  scope: Scope,
  input: PricingSettingsInput,
  ifVersion: number | null,
): Promise<PricingSettings> {
  const body = PricingSettingsInput.parse(input);
  const db = database(scope.env.DB);
  const current = await loadSettings(scope.env);
  if (ifVersion !== null && ifVersion !== current.version) throw changed(current.version);
  const next: PricingSettings = {
    ...body,
    version: current.version + 1,
    updatedAt: new Date().toISOString(),
  };
  const text = JSON.stringify(next);
  // The version is the fence: the row changes only from the version read above.
  const written = await db
    .insert(pricingSettings)
    .values({ id: 1, body: text, version: next.version, updatedAt: next.updatedAt ?? "" })
    .onConflictDoUpdate({
      target: pricingSettings.id,
      set: { body: text, version: next.version, updatedAt: next.updatedAt ?? "" },
      setWhere: sql`${pricingSettings.version} = ${current.version}`,
    })
    .returning({ version: pricingSettings.version });
  if (written.length === 0) throw changed(null);
  await Promise.allSettled([publish(scope.env, next), memo(scope).delete("current")]);
  return next;
}

const changed = (version: number | null) =>
  new AppError("settings_changed", {
    detail:
      version === null
        ? "The settings changed while this change was being made; read them again and retry"
        : `The settings are at version ${version} now; read them again and retry`,
  });

/**
 * The scheduled safety net for the write-through: KV gets D1's version when it is behind (never an
 * older one over a newer, which a change made meanwhile may have published).
 */
export async function republishSettings(env: Env): Promise<boolean> {
  const [row] = await database(env.DB).select().from(pricingSettings).where(eq(pricingSettings.id, 1));
  if (!row) return false;
  const published = await env.CATALOG.get(KV_KEY);
  const version = published ? (JSON.parse(published) as { version?: number }).version : undefined;
  if (version !== undefined && version >= row.version) return false;
  await env.CATALOG.put(KV_KEY, row.body);
  return true;
}
