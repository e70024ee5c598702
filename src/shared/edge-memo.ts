/**
 * A short-lived value remembered at the edge: first in this isolate's memory (free), then in the
 * Cache API (shared by every isolate at this location). Nothing here is global: it is for facts that
 * may be a few seconds stale everywhere but the location that changed them.
 *
 * Absence is remembered too, for `missTtlMs`. Only settled values are kept in memory, never a lookup
 * in flight: a promise doing I/O for one request must not be awaited by another (Workers refuses
 * I/O across request contexts), so concurrent misses each ask the Cache API once.
 */
type Entry = { value: string | null; until: number; put?: boolean };

const memory = new Map<string, Entry>();
/** Per namespace, until when some value (not an absence) this isolate remembers may still be live. */
const liveUntil = new Map<string, number>();

const prefixOf = (namespace: string) => `/_memo/${namespace}/`;

function remember(namespace: string, id: string, entry: Entry) {
  memory.set(id, entry);
  if (entry.value !== null && entry.until > (liveUntil.get(namespace) ?? 0)) {
    liveUntil.set(namespace, entry.until);
  }
}

/** What this isolate's memory alone knows of `key` in `namespace` (null: absent), without any I/O. */
export function peekMemo(namespace: string, key: string, now = Date.now()): string | null | undefined {
  const known = memory.get(prefixOf(namespace) + key);
  return known && known.until > now ? known.value : undefined;
}

/** Whether this isolate may remember any value in `namespace` now; false means it surely does not. */
export function memoMayHoldAny(namespace: string, now = Date.now()): boolean {
  return (liveUntil.get(namespace) ?? 0) > now;
}

export type EdgeMemoOptions = { cache?: Cache; missTtlMs?: number };

export class EdgeMemo {
  readonly #namespace: string;
  readonly #prefix: string;
  readonly #origin: string;
  readonly #cache: Cache;
  readonly #missTtlMs: number;

  constructor(namespace: string, origin: string, options: EdgeMemoOptions = {}) {
    this.#namespace = namespace;
    this.#prefix = prefixOf(namespace);
    this.#origin = origin;
    this.#cache = options.cache ?? caches.default;
    this.#missTtlMs = options.missTtlMs ?? 1000;
  }

  #request(key: string) {
    return new Request(new URL(this.#prefix + encodeURIComponent(key), this.#origin));
  }

  async get(key: string, now = Date.now()): Promise<string | null> {
    const id = this.#prefix + key;
    const known = memory.get(id);
    if (known && known.until > now) return known.value;
    const response = await this.#cache.match(this.#request(key)).catch(() => undefined);
    const value = response ? await response.text() : null;
    const until = Number(response?.headers.get("X-Until") ?? 0);
    remember(
      this.#namespace,
      id,
      until > now ? { value, until } : { value: null, until: now + this.#missTtlMs },
    );
    return until > now ? value : null;
  }

  /** Remembers a value here and at this location. Repeats within half its TTL are not written again. */
  async put(key: string, value: string, ttlSeconds: number, now = Date.now()): Promise<void> {
    const id = this.#prefix + key;
    const until = now + ttlSeconds * 1000;
    const known = memory.get(id);
    if (known?.put && known.value === value && known.until - now > (ttlSeconds * 1000) / 2) return;
    remember(this.#namespace, id, { value, until, put: true });
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
