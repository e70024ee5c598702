import type { CachedBody } from "./catalog.cache";

/**
 * The layer in front of the Cache API: catalog reads this isolate answered in the last
 * CATALOG_MEMORY_TTL_MS, kept in its memory and served without any I/O. A flash sale reads one
 * product thousands of times a second; with a 100 ms window the Cache API is asked ten times a
 * second for it instead.
 *
 * A write through this isolate forgets everything here before it answers, so its own next read is
 * fresh. Other isolates at the same location keep their copy until its window closes: the only
 * staleness this layer adds, and why the window is short.
 *
 * When a held read's window closes, the first read after it refreshes it from the layers behind,
 * and reads that come while it does (for REFRESH_GRACE_MS after it began, and never more than
 * STALE_CAP_MS past the window) are still answered from memory: one
 * read per window reaches the Cache API, not every read in flight at that moment, which under a
 * crowd's load would be hundreds, each making the next second slower.
 */
type Held = { entry: CachedBody | null; until: number; refreshingSince?: number };

const REFRESH_GRACE_MS = 250;
const STALE_CAP_MS = 2000;

const held = new Map<string, Held>();
/** Moves on every forget, so a read that began before a write cannot hold what it read after it. */
let epoch = 0;
/** Enough for every hot product and list page; the oldest entries make room past either bound. */
const MAX_ENTRIES = 2000;
/**
 * Characters of held bodies at the most: a client can ask for as many distinct list pages as it
 * likes, and the isolate's memory (128 MB) must not be what they fill.
 */
const MAX_CHARS = 8 * 1024 * 1024;
let heldChars = 0;

const sizeOf = (entry: CachedBody | null) => (entry ? entry.body.length + entry.etag.length : 0);

function drop(key: string) {
  const found = held.get(key);
  if (!found) return;
  heldChars -= sizeOf(found.entry);
  held.delete(key);
}

/**
 * The held entry (null: known missing) while its window is open, or while another read of this
 * isolate refreshes it; undefined when this isolate holds nothing to answer with.
 */
export function recall(key: string, now = Date.now()): CachedBody | null | undefined {
  const found = held.get(key);
  if (!found) return undefined;
  if (found.until > now) return found.entry;
  // Past its window only while a refresh begun in the last REFRESH_GRACE_MS is under way, and never
  // more than STALE_CAP_MS past it (refreshes that keep failing leave readers to the layers behind,
  // not on an ever older copy).
  if (
    found.refreshingSince !== undefined &&
    now - found.refreshingSince < REFRESH_GRACE_MS &&
    now - found.until < STALE_CAP_MS
  ) {
    return found.entry;
  }
  return undefined;
}

/** As `recall`; a caller told undefined for a held entry whose window closed is its one refresher. */
export function recallOrRefresh(key: string, now = Date.now()): CachedBody | null | undefined {
  const known = recall(key, now);
  const found = held.get(key);
  if (known === undefined && found) found.refreshingSince = now;
  return known;
}

/** The moment a read begins; `hold` keeps its result only if nothing was forgotten since. */
export function readEpoch(): number {
  return epoch;
}

export function hold(key: string, entry: CachedBody | null, ttlMs: number, since: number, now = Date.now()) {
  if (ttlMs <= 0 || since !== epoch) return;
  drop(key);
  const size = sizeOf(entry);
  if (size > MAX_CHARS) return;
  while (held.size > 0 && (held.size >= MAX_ENTRIES || heldChars + size > MAX_CHARS)) {
    const oldest = held.keys().next();
    if (oldest.done) break;
    drop(oldest.value);
  }
  held.set(key, { entry, until: now + ttlMs });
  heldChars += size;
}

/** What this isolate holds now: entries, and characters of their bodies. */
export function heldSize(): { entries: number; chars: number } {
  return { entries: held.size, chars: heldChars };
}

/** Drops every held read: after a catalog write in this isolate, and in tests. */
export function forgetHeldReads() {
  epoch += 1;
  held.clear();
  heldChars = 0;
}
