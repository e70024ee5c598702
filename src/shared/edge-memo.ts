/**
 * A short-lived value remembered at the edge: first in this isolate's memory (free), then in the
 * Cache API (shared by every isolate at this location). Nothing here is global: it is for facts that
 * may be a few seconds stale everywhere but the location that changed them.
 */
const memory = new Map<string, { value: string; until: number }>();

export class EdgeMemo {
  readonly #prefix: string;
  readonly #origin: string;
  readonly #cache: Cache;

  constructor(namespace: string, origin: string, cache: Cache = caches.default) {
    this.#prefix = `/_memo/${namespace}/`;
    this.#origin = origin;
    this.#cache = cache;
  }

  #request(key: string) {
    return new Request(new URL(this.#prefix + encodeURIComponent(key), this.#origin));
  }

  async get(key: string, now = Date.now()): Promise<string | null> {
    const local = memory.get(this.#prefix + key);
    if (local && local.until > now) return local.value;
    const response = await this.#cache.match(this.#request(key));
    if (!response) return null;
    const value = await response.text();
    const until = Number(response.headers.get("X-Until") ?? 0);
    if (until > now) memory.set(this.#prefix + key, { value, until });
    return value;
  }

  async put(key: string, value: string, ttlSeconds: number, now = Date.now()): Promise<void> {
    const until = now + ttlSeconds * 1000;
    memory.set(this.#prefix + key, { value, until });
    await this.#cache.put(
      this.#request(key),
      new Response(value, {
        headers: { "Cache-Control": `max-age=${ttlSeconds}`, "X-Until": String(until) },
      }),
    );
  }

  async delete(key: string): Promise<void> {
    memory.delete(this.#prefix + key);
    await this.#cache.delete(this.#request(key));
  }
}
