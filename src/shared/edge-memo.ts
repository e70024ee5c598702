/**
 * A short-lived value remembered at the edge: first in this isolate's memory (free), then in the
 * Cache API (shared by every isolate at this location). Nothing here is global: it is for facts that
 * may be a few seconds stale everywhere but the location that changed them.
 *
 * Absence is remembered too, for `missTtlMs`, and concurrent lookups of one key share a single Cache
 * API read, so a busy isolate asks the Cache API about a key at most about once per `missTtlMs`.
 */
type Entry = { value: Promise<string | null>; until: number; put?: string };

const memory = new Map<string, Entry>();

export type EdgeMemoOptions = { cache?: Cache; missTtlMs?: number };

export class EdgeMemo {
  readonly #prefix: string;
  readonly #origin: string;
  readonly #cache: Cache;
  readonly #missTtlMs: number;

  constructor(namespace: string, origin: string, options: EdgeMemoOptions = {}) {
    this.#prefix = `/_memo/${namespace}/`;
    this.#origin = origin;
    this.#cache = options.cache ?? caches.default;
    this.#missTtlMs = options.missTtlMs ?? 1000;
  }

  #request(key: string) {
    return new Request(new URL(this.#prefix + encodeURIComponent(key), this.#origin));
  }

  get(key: string, now = Date.now()): Promise<string | null> {
    const id = this.#prefix + key;
    const known = memory.get(id);
    if (known && known.until > now) return known.value;
    const value = this.#lookup(id, key);
    memory.set(id, { value, until: now + this.#missTtlMs });
    return value;
  }

  async #lookup(id: string, key: string): Promise<string | null> {
    const response = await this.#cache.match(this.#request(key)).catch(() => undefined);
    if (!response) return null;
    const value = await response.text();
    const until = Number(response.headers.get("X-Until") ?? 0);
    if (until > Date.now()) memory.set(id, { value: Promise.resolve(value), until });
    return value;
  }

  /** Remembers a value here and at this location. Repeats within half its TTL are not written again. */
  async put(key: string, value: string, ttlSeconds: number, now = Date.now()): Promise<void> {
    const id = this.#prefix + key;
    const until = now + ttlSeconds * 1000;
    const known = memory.get(id);
    if (known?.put === value && known.until - now > (ttlSeconds * 1000) / 2) return;
    memory.set(id, { value: Promise.resolve(value), until, put: value });
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
