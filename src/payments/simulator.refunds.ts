import type { ChargeRow } from "./simulator.ledger";

/** What a refund call came to: made (or made before under its key), refused, or a gateway error. */
export type SimulatedRefund =
  | { ok: true; refundId: string; amount: number; replayed: boolean; chargeRefunded: number }
  | { ok: false; kind: "refused" | "error"; reason: string };

/**
 * Refunds `amount` of a charge (all that is left without one), once per idempotency key as Stripe
 * does: a repeat answers the refund already made, whatever is left now. More than is left is refused,
 * as is a charge refunded in full; nothing is refunded then. The refund and the charge's refunded
 * total change in one write.
 */
export function refundCharge(
  storage: DurableObjectStorage,
  chargeId: string,
  idempotencyKey: string,
  amount: number | undefined,
): SimulatedRefund {
  const sql = storage.sql;
  return storage.transactionSync((): SimulatedRefund => {
    const made = sql
      .exec<{ id: string; amount: number }>(
        "SELECT id, amount FROM refunds WHERE idempotency_key = ?",
        idempotencyKey,
      )
      .toArray()[0];
    if (made) {
      const refunded = sql
        .exec<{ refunded: number }>("SELECT refunded_amount AS refunded FROM charges WHERE id = ?", chargeId)
        .toArray()[0]?.refunded;
      return {
        ok: true,
        refundId: made.id,
        amount: made.amount,
        replayed: true,
        chargeRefunded: refunded ?? made.amount,
      };
    }
    const charge = sql.exec<ChargeRow>("SELECT * FROM charges WHERE id = ?", chargeId).toArray()[0];
    if (!charge) return { ok: false, kind: "refused", reason: "charge_not_found: no such charge" };
    const left = charge.amount - charge.refunded_amount;
    if (left === 0)
      return { ok: false, kind: "refused", reason: "charge_already_refunded: nothing is left to refund" };
    const refunding = amount ?? left;
    if (refunding > left) {
      return {
        ok: false,
        kind: "refused",
        reason: `amount_too_large: ${refunding} is more than the ${left} left to refund`,
      };
    }
    const id = `re_sim_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
    sql.exec(
      "INSERT INTO refunds (idempotency_key, id, charge_id, amount, created_at) VALUES (?, ?, ?, ?, ?)",
      idempotencyKey,
      id,
      chargeId,
      refunding,
      new Date().toISOString(),
    );
    sql.exec(
      `UPDATE charges SET refunded_amount = refunded_amount + ?,
         status = CASE WHEN refunded_amount + ? >= amount THEN 'refunded' ELSE status END
       WHERE id = ?`,
      refunding,
      refunding,
      chargeId,
    );
    return {
      ok: true,
      refundId: id,
      amount: refunding,
      replayed: false,
      chargeRefunded: charge.refunded_amount + refunding,
    };
  });
}

/** Makes the next `count` refund calls fail as `mode` says (see GatewaySimulator.breakRefunds). */
export function breakNextRefunds(sql: SqlStorage, count: number, mode: "before" | "after") {
  sql.exec(
    "INSERT INTO refund_faults (id, left, mode) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET left = excluded.left, mode = excluded.mode",
    count,
    mode,
  );
}

/** The refund fault this call takes, if one is left. */
export function takeRefundFault(sql: SqlStorage): "before" | "after" | null {
  const fault = sql
    .exec<{ left: number; mode: "before" | "after" }>("SELECT left, mode FROM refund_faults")
    .toArray()[0];
  if (!fault || fault.left <= 0) return null;
  sql.exec("UPDATE refund_faults SET left = left - 1");
  return fault.mode;
}
