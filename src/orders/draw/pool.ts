// The units a draw holds in stock: a slot per unit, held (pinned) at its setup, given back to stock
// when nobody won it or the draw is cancelled or short.
import {
  everyBucket,
  holdCarts,
  type OrderHolds,
  pinOrders,
  settleOrders,
} from "../../inventory/inventory.holds";
import type { DrawStore } from "./draw.store";
import type { Setup } from "./draw-setup";

/** Slots held per call to the inventory (one cart per unit). */
const POOL_BATCH = 100;
/** A pool hold outlives the draw's close by this much even if the draw never runs (then it lapses). */
const POOL_HOLD_MS = 14 * 86_400_000;
/** Slots given back per call to the inventory (an object takes at most 1,000 order ids a call). */
const RELEASE_BATCH = 500;

/** Holds every wanted slot in stock, a batch at a time; short stock gives back what was held. */
export async function holdPool(env: Env, store: DrawStore, storage: DurableObjectStorage, setup: Setup) {
  const wanted = store.wantedSlots(POOL_BATCH);
  if (wanted.length === 0) {
    store.setPhase("open", "pooling");
    return;
  }
  const answers = await holdCarts(
    env,
    wanted.map((slot) => ({
      orderId: slot.orderId,
      lines: [{ sku: slot.sku, quantity: 1, buckets: setup.buckets[slot.sku] ?? 1 }],
      expiresAtMs: setup.closesAt + POOL_HOLD_MS,
    })),
  );
  const held: OrderHolds[] = [];
  const short: string[] = [];
  answers.forEach((answer, i) => {
    const slot = wanted[i];
    if (!slot) return;
    if (answer.ok) held.push({ orderId: slot.orderId, holds: answer.holds });
    else if (!("unavailable" in answer)) short.push(slot.sku);
  });
  // Pinned: a pool hold has no expiry while the draw stands; only the draw gives it back. A slot
  // whose pin was not answered stays wanted: the next step holds it again (the same hold, by its
  // order id) and pins it.
  const pins = await pinOrders(env, held);
  const pinned = held.filter((slot) => pins.get(slot.orderId)?.every(({ result }) => result.ok));
  storage.transactionSync(() => {
    for (const slot of pinned) store.slotHeld(slot.orderId, slot.holds);
  });
  if (short.length > 0) {
    store.setPhase("short", "pooling", `not enough stock of ${[...new Set(short)].join(", ")}`);
    await giveBackPool(env, store, setup);
  }
}

/**
 * Gives every unit the draw holds back to stock (a short draw, a cancelled one), and fences the slots
 * never held (a hold that lands late is refused). Answers whether all of it is back; what an object
 * did not answer is given back at the next step.
 */
export async function giveBackPool(env: Env, store: DrawStore, setup: Setup): Promise<boolean> {
  const wanted = store.wantedSlots(Number.MAX_SAFE_INTEGER).map((slot) => ({
    orderId: slot.orderId,
    holds: [
      {
        sku: slot.sku,
        quantity: 1,
        expiresAt: new Date(setup.closesAt).toISOString(),
        buckets: everyBucket(setup.buckets[slot.sku] ?? 1).map((bucket) => ({ bucket, quantity: 1 })),
      },
    ],
  }));
  for (let at = 0; at < wanted.length; at += RELEASE_BATCH) {
    const chunk = wanted.slice(at, at + RELEASE_BATCH);
    store.fenceSlots(given(await settleOrders(env, chunk, "released", true)));
  }
  return (await giveBack(env, store, "all")) && store.slotCount("wanted") === 0;
}

/** Gives back the held slots (`free`: those no winner has), RELEASE_BATCH at a time; true when none is left. */
export async function giveBack(env: Env, store: DrawStore, which: "free" | "all"): Promise<boolean> {
  const slots = store.heldSlots(which);
  let all = true;
  for (let at = 0; at < slots.length; at += RELEASE_BATCH) {
    const chunk = slots.slice(at, at + RELEASE_BATCH);
    const released = given(await settleOrders(env, chunk, "released", true));
    store.releaseSlots(released);
    all &&= released.length === chunk.length;
  }
  return all;
}

/** The slots whose every hold is back in stock (or was never there to give back). */
function given(answers: Awaited<ReturnType<typeof settleOrders>>): string[] {
  return [...answers]
    .filter(([, outcomes]) =>
      outcomes.every(
        ({ result }) =>
          result.ok ||
          (result.error !== "committed" &&
            result.error !== "unreachable" &&
            result.error !== "invalid_argument"),
      ),
    )
    .map(([orderId]) => orderId);
}
