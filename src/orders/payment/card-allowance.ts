import { cardAllowanceLines, type LimitLine } from "../../inventory/allowances";
import type { CartReservation, PlannedLine, SkuHold } from "../../inventory/inventory.holds";
import type { PaymentGateway } from "../../payments/gateway";
import type { PaymentTask } from "../protocol";

/** What holding a card's allowance needs: the gateway (to name the card) and the inventory. */
export type CardAllowancePorts = {
  gateway: PaymentGateway;
  /** Holds lines (the paying card's allowances) under an order's id, all or nothing. */
  hold(orderId: string, lines: PlannedLine[], expiresAtMs: number): Promise<CartReservation>;
  holdTtlMs: number;
  now(): number;
};

/**
 * What the paying card's allowance came to: `held` (the holds taken, none when no limit applies or
 * the gateway names no card), `refused` (the card is past a limit; nothing is held), `invalid` (the
 * gateway knows no such token), or `later` (nothing learned; the attempt is not made now).
 */
export type CardAllowance =
  | { kind: "held"; holds: SkuHold[] }
  | { kind: "refused"; limit: LimitLine["limit"]; remaining: number }
  | { kind: "invalid"; reason: string }
  | { kind: "later"; reason: string; retryAfterMs?: number };

/**
 * Holds the paying card's allowance of the order's limited SKUs and products before anything is
 * charged: the card is the customer's second key, after the email checkout already counted. The
 * gateway names the card (its fingerprint) only now, at the payment, so this is where it is counted:
 * each allowance is an inventory object of its own, named by a hash of the limit and the fingerprint,
 * held under the order's id all or nothing through the same path as the cart's stock. Orders of
 * several emails paying with one card are so serialised by that object, whichever consumer or
 * bucket they come through, and at most the limit of them get it.
 *
 * Reserving under the order's id is idempotent: a later attempt of the same order (after a lost
 * report, a lapsed lease) is answered the hold it already has, never a second unit; a hold that
 * expired meanwhile is taken again if the allowance still has it.
 *
 * What a failure at each point leaves:
 * - the fingerprint cannot be read (the call fails, times out, or is throttled): `later`, so the
 *   attempt is "not attempted" and comes back after its backoff; nothing is charged unchecked;
 * - the allowance object cannot be reached: `later` likewise; whatever part of the allowance this
 *   attempt did hold is given back (or expires by its object's alarm);
 * - the hold is taken, and then the worker dies or its report never reaches the shard: the hold is
 *   not pinned yet (the shard pins it when it records it), so it expires by its object's own alarm
 *   after HOLD_TTL_SECONDS; before that, the order's next attempt (its lease runs out after 60 s)
 *   is answered the same hold and reports it, so it is recorded and then committed or given back
 *   with the order. Should it expire first and the card's allowance go to another order meanwhile,
 *   that next attempt is refused, and a payment found at the gateway for this order is withdrawn or
 *   refunded: the limit holds either way;
 * - the shard records the hold and the outcome in one transaction, so a recorded hold is always
 *   committed, given back or pinned with the order's others.
 */
export async function holdCardAllowance(
  ports: CardAllowancePorts,
  task: PaymentTask,
): Promise<CardAllowance> {
  if (task.cardLimits.length === 0) return { kind: "held", holds: [] };
  const card = await ports.gateway.fingerprint(task.token).catch(() => null);
  if (!card) return { kind: "later", reason: "the paying card could not be read" };
  if (card.status === "throttled") {
    return { kind: "later", reason: "the gateway asked to slow down (429)", retryAfterMs: card.retryAfterMs };
  }
  if (card.status === "invalid") return { kind: "invalid", reason: card.reason };
  if (card.status === "none") return { kind: "held", holds: [] };

  const lines = await cardAllowanceLines(task.cardLimits, card.fingerprint);
  const held = await ports.hold(task.orderId, lines, ports.now() + ports.holdTtlMs).catch(() => null);
  if (!held || (!held.ok && "unavailable" in held)) {
    return { kind: "later", reason: "the paying card's allowance could not be reached" };
  }
  if (held.ok) return { kind: "held", holds: held.holds };
  const [over] = held.overAllowance;
  const limit = over?.line.allowance.limit;
  if (!over || !limit || limit.scope === "pass" || limit.scope === "uses") {
    return { kind: "later", reason: "the paying card's allowance answered nothing" };
  }
  return { kind: "refused", limit, remaining: over.available };
}
