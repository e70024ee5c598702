import type { Context } from "hono";
import type { AppEnv } from "../http/app-env";
import type { CacheLayer } from "../http/request-log";
import { settings } from "../shared/config";
import { type CachedBody, matchesIfNoneMatch } from "./catalog.cache";
import { recall } from "./catalog.memory";
import { type CatalogRead, productKey } from "./catalog.service";

function cacheControl(env: Env): string {
  const { catalogEdgeTtlSeconds: edgeTtl, catalogKvFreshSeconds: fresh } = settings(env);
  // Browsers revalidate every time (cheap with the ETag); shared caches hold the edge TTL.
  return `public, max-age=0, s-maxage=${edgeTtl}, stale-while-revalidate=${fresh}, stale-if-error=86400`;
}

/** A catalog entry as an HTTP answer: 304 when the caller already holds its bytes. */
function catalogAnswer(
  env: Env,
  entry: CachedBody,
  layer: CacheLayer,
  ifNoneMatch: string | null | undefined,
  extraHeaders: Record<string, string> = {},
): Response {
  const headers: Record<string, string> = {
    ETag: entry.etag,
    "Cache-Control": cacheControl(env),
    "X-Cache-Layer": layer,
    ...extraHeaders,
  };
  if (matchesIfNoneMatch(ifNoneMatch ?? undefined, entry.etag)) {
    return new Response(null, { status: 304, headers });
  }
  headers["Content-Type"] = "application/json; charset=utf-8";
  return new Response(entry.body, { status: 200, headers });
}

export function catalogResponse(c: Context<AppEnv>, read: CatalogRead): Response {
  c.set("cacheLayer", read.layer);
  return catalogAnswer(c.env, read.entry, read.layer, c.req.header("If-None-Match"));
}

/**
 * A product this isolate read moments ago, answered from memory with no I/O; null when it holds none
 * (or holds that it is missing: the 404 is the routed path's). The product route answers with this
 * first, and the worker's entry may answer with it before routing: the same answer either way.
 */
export function heldProductAnswer(
  env: Env,
  idOrSlug: string,
  ifNoneMatch: string | null | undefined,
  extraHeaders: Record<string, string> = {},
): Response | null {
  const entry = recall(productKey(idOrSlug));
  return entry ? catalogAnswer(env, entry, "memory", ifNoneMatch, extraHeaders) : null;
}
