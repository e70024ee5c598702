/**
 * The two edge layers in front of D1. The Cache API is local to one location and cheapest to read;
 * KV is global but takes up to 60 s to reach other locations and allows one write per second per key.
 * An entry is a serialized response body with its ETag and the time it was built from D1.
 */
export type CachedBody = { body: string; etag: string; storedAt: number };

/** A Cache API entry may also remember that nothing exists under a key, so misses do not hammer D1. */
export type EdgeHit = CachedBody | { missing: true };

const CACHE_PREFIX = "/_cache/catalog/";

export type EdgeLayersOptions = {
  kv: KVNamespace;
  /** The origin the Cache API keys are built on (the cache is scoped to the serving zone anyway). */
  origin: string;
  edgeTtlSeconds: number;
  cache?: Cache;
};

export class EdgeLayers {
  readonly #kv: KVNamespace;
  readonly #origin: string;
  readonly #edgeTtl: number;
  readonly #cache: Cache;

  constructor(options: EdgeLayersOptions) {
    this.#kv = options.kv;
    this.#origin = options.origin;
    this.#edgeTtl = options.edgeTtlSeconds;
    this.#cache = options.cache ?? caches.default;
  }

  #key(key: string): Request {
    return new Request(new URL(CACHE_PREFIX + encodeURIComponent(key), this.#origin));
  }

  async cacheGet(key: string): Promise<EdgeHit | null> {
    const response = await this.#cache.match(this.#key(key));
    if (!response) return null;
    if (response.headers.get("X-Missing") === "1") return { missing: true };
    return {
      body: await response.text(),
      etag: response.headers.get("ETag") ?? "",
      storedAt: Number(response.headers.get("X-Stored-At") ?? 0),
    };
  }

  async cachePut(key: string, entry: EdgeHit): Promise<void> {
    const headers = new Headers({ "Cache-Control": `public, max-age=${this.#edgeTtl}` });
    if ("missing" in entry) {
      headers.set("X-Missing", "1");
      await this.#cache.put(this.#key(key), new Response("", { headers }));
      return;
    }
    headers.set("Content-Type", "application/json");
    headers.set("ETag", entry.etag);
    headers.set("X-Stored-At", String(entry.storedAt));
    await this.#cache.put(this.#key(key), new Response(entry.body, { headers }));
  }

  async cacheDelete(key: string): Promise<void> {
    await this.#cache.delete(this.#key(key));
  }

  async kvGet<T extends object>(key: string): Promise<(CachedBody & T) | null> {
    return this.#kv.get<CachedBody & T>(key, "json");
  }

  async kvPut(key: string, value: unknown, expirationTtl?: number): Promise<void> {
    await this.#kv.put(key, JSON.stringify(value), expirationTtl ? { expirationTtl } : {});
  }

  async kvDelete(key: string): Promise<void> {
    await this.#kv.delete(key);
  }
}

const encoder = new TextEncoder();

/** A strong validator derived from the bytes served, so equal bodies always share an ETag. */
export async function etagOf(body: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(body)));
  const hex = Array.from(digest.subarray(0, 16), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `"${hex}"`;
}

/** RFC 9110 If-None-Match: weak comparison, a list of tags, or `*`. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  const bare = etag.replace(/^W\//, "");
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === bare);
}
