/**
 * The webhooks queue's limits, with room to spare: a message may hold 128 KB, one `sendBatch` 100
 * messages and 256 KB. An order's event is at most about 75 KB (50 items with 400-character titles
 * of 3-byte characters), so one event always fits a message.
 */
export const MESSAGE_BYTES = 100_000;
export const BATCH_BYTES = 200_000;
export const BATCH_MESSAGES = 100;

const encoder = new TextEncoder();

export const bytesOf = (text: string) => encoder.encode(text).length;

/**
 * Splits items, in order, into runs of at most `maxCount` items whose sizes add up to at most
 * `maxBytes`; an item bigger than that on its own makes a run by itself.
 */
export function runsBySize<T>(items: T[], sizeOf: (item: T) => number, maxBytes: number, maxCount: number) {
  const runs: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (run.length > 0 && (bytes + size > maxBytes || run.length >= maxCount)) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
