/**
 * A short-lived value remembered at the edge: first in this isolate's memory (free), then in the
 * Cache API (shared by every isolate at this location). Nothing here is global: it is for facts that
 * may be a few seconds stale everywhere but the location that changed them.
 *
 * Absence is remembered too, for `missTtlMs`. Only settled values are kept in memory, never a lookup
 * in flight: a promise doing I/O for one request must not be awaited by another (Workers refuses
 * I/O across request contexts), so concurrent misses each ask the Cache API once.
 *
 * The memory is bounded: at most MAX_ENTRIES entries and MAX_CHARS characters of keys and values
 * over every namespace, the oldest written making room, and expired entries dropped as they are met
 * (each write also looks at the oldest two). A memo may keep some answers out of memory altogether
 * (`keep`): what a stranger can invent, such as the absence of a SKU nobody sells, is then asked of
 * the Cache API each time rather than filling the isolate.
 */
type Entry = { value: string | null; until: number; put?: boolean; chars: number };

/** Enough for every SKU of a large catalog in each namespace that remembers them. */
export const MAX_ENTRIES = 20_000;
/** About 2 MB of strings at two bytes a character, with the Map's own cost on top. */
export const MAX_CHARS = 1024 * 1024;

const memory = new Map<string, Entry>();
let memoryChars = 0;
/** Per namespace, until when some value (not an absence) this isolate remembers may still be live. */
const liveUntil = new Map<string, number>();

const prefixOf = (namespace: string) => `/_memo/${namespace}/`;

function forget(id: string) {
  const found = memory.get(id);
  if (!found) return;
  memoryChars -= found.chars;
  memory.delete(id);
}

/** Drops the oldest entries that have expired, looking at `count` of them at most. */
function sweep(count: number, now: number) {
  for (const [id, entry] of memory) {
    if (count-- <= 0 || entry.until > now) return;
    forget(id);
  }
}

function remember(namespace: string, id: string, entry: Omit<Entry, "chars">, now: number) {
  forget(id);
  sweep(2, now);
  const chars = id.length + (entry.value?.length ?? 0);
  if (chars > MAX_CHARS) return;
  while (memory.size > 0 && (memory.size >= MAX_ENTRIES || memoryChars + chars > MAX_CHARS)) {
    const oldest = memory.keys().next();
    if (oldest.done) break;
    forget(oldest.value);
  }
  memory.set(id, { ...entry, chars });
  memoryChars += chars;
  if (entry.value !== null && entry.until > (liveUntil.get(namespace) ?? 0)) {
    liveUntil.set(namespace, entry.until);
  }
}

/** The live entry for `id`; an expired one is dropped on the way. */
function recall(id: string, now: number): Entry | undefined {
  const known = memory.get(id);
  if (!known) return undefined;
  if (known.until > now) return known;
  forget(id);
  return undefined;
}

/** What this isolate's memory alone knows of `key` in `namespace` (null: absent), without any I/O. */
export function peekMemo(namespace: string, key: string, now = Date.now()): string | null | undefined {
  return recall(prefixOf(namespace) + key, now)?.value;
}

/** Whether this isolate may remember any value in `namespace` now; false means it surely does not. */
export function memoMayHoldAny(namespace: string, now = Date.now()): boolean {
  return (liveUntil.get(namespace) ?? 0) > now;
}

/** What this isolate's memos hold now: entries, and characters of their keys and values. */
export function memoSize(): { entries: number; chars: number } {
  return { entries: memory.size, chars: memoryChars };
}

export type EdgeMemoOptions = {
  cache?: Cache;
  missTtlMs?: number;
  /**
   * Whether this isolate's memory keeps an answer (a value, or null for an absence) for `key`;
   * one it does not keep is asked of the Cache API every time. Default: every answer.
   */
  keep?: (value: string | null, key: string) => boolean;
};

export class EdgeMemo {
  readonly #namespace: string;
  readonly #prefix: string;
  readonly #origin: string;
  readonly #cache: Cache;
  readonly #missTtlMs: number;
  readonly #keep: (value: string | null, key: string) => boolean;

  constructor(namespace: string, origin: string, options: EdgeMemoOptions = {}) {
    this.#namespace = namespace;
    this.#prefix = prefixOf(namespace);
    this.#origin = origin;
    this.#cache = options.cache ?? caches.default;
    this.#missTtlMs = options.missTtlMs ?? 1000;
    this.#keep = options.keep ?? (() => true);
  }

  #request(key: string) {
    return new Request(new URL(this.#prefix + encodeURIComponent(key), this.#origin));
  }

  async get(key: string, now = Date.now()): Promise<string | null> {
    const id = this.#prefix + key;
    const known = recall(id, now);
    if (known) return known.value;
    const response = await this.#cache.match(this.#request(key)).catch(() => undefined);
    const value = response ? await response.text() : null;
    const until = Number(response?.headers.get("X-Until") ?? 0);
    const found = until > now ? value : null;
    if (this.#keep(found, key)) {
      remember(
        this.#namespace,
        id,
        until > now ? { value, until } : { value: null, until: now + this.#missTtlMs },
        now,
      );
    }
    return found;
  }

  /** Remembers a value here and at this location. Repeats within half its TTL are not written again. */
  async put(key: string, value: string, ttlSeconds: number, now = Date.now()): Promise<void> {
    const id = this.#prefix + key;
    const until = now + ttlSeconds * 1000;
    const known = recall(id, now);
    if (known?.put && known.value === value && known.until - now > (ttlSeconds * 1000) / 2) return;
    if (this.#keep(value, key)) remember(this.#namespace, id, { value, until, put: true }, now);
    else forget(id);
    await this.#cache.put(
      this.#request(key),
      new Response(value, {
        headers: { "Cache-Control": `max-age=${ttlSeconds}`, "X-Until": String(until) },
      }),
    );
  }

  async delete(key: string): Promise<void> {
    forget(this.#prefix + key);
    await this.#cache.delete(this.#request(key));
  }
}
