import type { Context } from "hono";
import { settings } from "../config";
import type { AppEnv } from "../env";
import { type CachedBody, matchesIfNoneMatch } from "./catalog.cache";
import type { CatalogRead } from "./catalog.service";

function cacheControl(env: Env): string {
  const { catalogEdgeTtlSeconds: edgeTtl, catalogKvFreshSeconds: fresh } = settings(env);
  // Browsers revalidate every time (cheap with the ETag); shared caches hold the edge TTL.
  return `public, max-age=0, s-maxage=${edgeTtl}, stale-while-revalidate=${fresh}, stale-if-error=86400`;
}

/** Answers a catalog read from its cached bytes: 304 when the caller already holds them. */
export function catalogResponse(c: Context<AppEnv>, read: CatalogRead): Response {
  const entry: CachedBody = read.entry;
  c.set("cacheLayer", read.layer);
  const headers = {
    ETag: entry.etag,
    "Cache-Control": cacheControl(c.env),
    "X-Cache-Layer": read.layer,
  };
  if (matchesIfNoneMatch(c.req.header("If-None-Match"), entry.etag)) {
    return c.body(null, 304, headers);
  }
  return c.body(entry.body, 200, { ...headers, "Content-Type": "application/json; charset=utf-8" });
}
