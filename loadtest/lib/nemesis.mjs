// The chaos scenario's nemesis: a fault schedule drawn from a seeded generator, so one seed always
// gives the same faults (which, when, for how long). Pure: nothing here touches a runtime.

/** mulberry32: a small, well-mixed 32-bit generator; answers floats in [0, 1). */
export function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed for a run that was given none: printed, so the run can be replayed. */
export function randomSeed() {
  return Math.floor(Math.random() * 2 ** 31);
}

/**
 * The faults, by family. `kill`: SIGKILL of the runtime, restarted on the same state; `d1-lock`: every
 * D1 database file locked; `gateway-*`: the payment simulator down (503s, lookups failing), timing out
 * without charging, or charging and losing its answer; `queue-*`: queue deliveries acked unread, or
 * handed back to come again later.
 */
export const FAULT_FAMILIES = {
  kill: ["kill"],
  d1: ["d1-lock"],
  gateway: ["gateway-fail", "gateway-timeout", "gateway-lose"],
  queue: ["queue-drop", "queue-delay"],
};

const int = (random, min, max) => min + Math.floor(random() * (max - min + 1));

/**
 * `count` faults in the window [startSeconds, endSeconds) of the sale, one after another, never two at
 * once: the window is cut into `count` equal slots and each fault starts at a random point of its
 * slot, lasting at most 60% of it. When `count` is at least 4, every family appears at least once;
 * the rest are drawn from all kinds. Each fault: `{ kind, atSeconds, forSeconds, ...detail }`.
 */
export function nemesisSchedule({ seed, count, startSeconds, endSeconds }) {
  if (!Number.isInteger(seed) || seed < 0)
    throw new Error(`the seed must be a whole number >= 0, not ${seed}`);
  if (!(count >= 1) || !(endSeconds > startSeconds)) throw new Error("a schedule needs faults and a window");
  const random = prng(seed);
  const families = Object.values(FAULT_FAMILIES);
  const kinds = families.flat();
  const picked = [];
  if (count >= families.length) {
    for (const family of families) picked.push(family[int(random, 0, family.length - 1)]);
  }
  while (picked.length < count) picked.push(kinds[int(random, 0, kinds.length - 1)]);
  // Fisher-Yates, so the families come in a seeded order.
  for (let i = picked.length - 1; i > 0; i--) {
    const j = int(random, 0, i);
    [picked[i], picked[j]] = [picked[j], picked[i]];
  }
  const slot = (endSeconds - startSeconds) / count;
  const longest = Math.max(2, Math.floor(slot * 0.6));
  return picked.map((kind, i) => {
    const forSeconds = kind === "kill" ? 0 : int(random, Math.min(3, longest), longest);
    const room = Math.max(0, slot - forSeconds - 1);
    const atSeconds = Math.round((startSeconds + i * slot + random() * room) * 10) / 10;
    const fault = { kind, atSeconds, forSeconds };
    if (kind === "gateway-timeout") fault.delayMs = int(random, 1, 4) * 500;
    if (kind === "queue-delay") fault.delaySeconds = int(random, 2, 8);
    return fault;
  });
}

/** One line per fault, as the run prints its schedule. */
export function describeFault(fault) {
  const extra = [
    fault.delayMs ? `answers after ${fault.delayMs} ms` : "",
    fault.delaySeconds ? `redelivered after ${fault.delaySeconds} s` : "",
  ].filter(Boolean);
  const span = fault.kind === "kill" ? "" : ` for ${fault.forSeconds} s`;
  return `${fault.kind} at ${fault.atSeconds} s${span}${extra.length ? ` (${extra.join(", ")})` : ""}`;
}
