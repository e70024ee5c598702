import { z } from "zod";

/**
 * The simulator's charge ledger and what its parts share: the token's behaviour, the arguments of a
 * payment, and the fault switch. Charges (made at once, or by capturing a hold) are rows of one table,
 * keyed by idempotency key, so nothing is ever charged twice under a key.
 */
export type SimulatedCharge = {
  id: string;
  orderId: string;
  amount: { amount: number; currency: string };
  /** Refunded so far; `status` is `refunded` once that is all of it. */
  refunded: { amount: number; currency: string };
  status: "succeeded" | "refunded";
  idempotencyKey: string;
  createdAt: string;
};

export type ChargeRow = {
  id: string;
  order_id: string;
  amount: number;
  refunded_amount: number;
  currency: string;
  status: "succeeded" | "refunded";
  idempotency_key: string;
  created_at: string;
};

export function toCharge(row: ChargeRow): SimulatedCharge {
  return {
    id: row.id,
    orderId: row.order_id,
    amount: { amount: row.amount, currency: row.currency },
    refunded: { amount: row.refunded_amount ?? 0, currency: row.currency },
    status: row.status,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
  };
}

/** A payment as the simulator is asked for it: a charge, or a hold. */
export const ChargeArgs = z
  .object({
    idempotencyKey: z.string().min(1).max(255),
    orderId: z.string().min(1).max(128),
    amount: z.number().int().min(0),
    currency: z.string().regex(/^[A-Z]{3}$/),
    token: z.string().min(1).max(255),
  })
  .strict();

export type ChargeArgs = z.infer<typeof ChargeArgs>;

/** A token's behaviour (`tok_ok`) and the card it names, if it names one (`tok_ok.card_<id>`). */
export function simulatedToken(token: string): { kind: string; card: string | null } {
  const named = /^(tok_[a-z0-9_]+)\.card_([A-Za-z0-9_-]{1,64})$/.exec(token);
  return named ? { kind: named[1] as string, card: named[2] as string } : { kind: token, card: null };
}

/** The page where the buyer passes (or fails) a simulated 3-D Secure challenge. */
export function challengeUrl(intentId: string): string {
  return `/pay/challenge/${intentId}`;
}

/** The ids the simulator gives its payments: what the challenge page accepts. */
export function paymentId(): string {
  return `pi_sim_${crypto.randomUUID().replaceAll("-", "")}`;
}

export function chargeByKey(sql: SqlStorage, idempotencyKey: string): SimulatedCharge | null {
  const row = sql
    .exec<ChargeRow>("SELECT * FROM charges WHERE idempotency_key = ?", idempotencyKey)
    .toArray()[0];
  return row ? toCharge(row) : null;
}

/** Adds a charge to the ledger; the caller has made sure none exists under the key. */
export function insertCharge(sql: SqlStorage, args: ChargeArgs): SimulatedCharge {
  const row = sql
    .exec<ChargeRow>(
      "INSERT INTO charges (id, idempotency_key, order_id, amount, currency, status, created_at) VALUES (?, ?, ?, ?, ?, 'succeeded', ?) RETURNING *",
      `ch_sim_${crypto.randomUUID().replaceAll("-", "")}`,
      args.idempotencyKey,
      args.orderId,
      args.amount,
      args.currency,
      new Date().toISOString(),
    )
    .one();
  return toCharge(row);
}

/** Counts an attempt under a key (tokens such as `tok_flaky` behave by it); answers its number. */
export function countAttempt(sql: SqlStorage, key: string): number {
  return sql
    .exec<{ count: number }>(
      `INSERT INTO attempts (idempotency_key, count) VALUES (?, 1)
       ON CONFLICT (idempotency_key) DO UPDATE SET count = count + 1 RETURNING count`,
      key,
    )
    .one().count;
}

export type FaultMode = "fail" | "timeout" | "lose";

/** The fault in force now (see GatewaySimulator.breakCharges), if any. */
export function faultIn(sql: SqlStorage): { mode: FaultMode; until: number; delayMs: number } | null {
  const row = sql
    .exec<{ mode: FaultMode; until: number; delay_ms: number }>(
      "SELECT mode, until, delay_ms FROM charge_faults WHERE until > ?",
      Date.now(),
    )
    .toArray()[0];
  return row ? { mode: row.mode, until: row.until, delayMs: row.delay_ms } : null;
}

type GatewayError = { ok: false; kind: "error"; status: 503 | 504; reason: string };

/**
 * A call under the fault in force, answering `count` answers: `fail` answers 503 doing nothing,
 * `timeout` waits and answers 504 doing nothing, `lose` does the work and answers 504 in place of each
 * success (the answer was lost on the way back: what the gateway did stays done).
 */
export async function underFault<T extends { ok: boolean }>(
  fault: { mode: FaultMode; delayMs: number } | null,
  count: number,
  work: () => T[],
): Promise<(T | GatewayError)[]> {
  const failing = (status: 503 | 504, reason: string) =>
    Array.from({ length: count }, (): GatewayError => ({ ok: false, kind: "error", status, reason }));
  if (fault?.mode === "fail") return failing(503, "simulated gateway outage");
  if (fault?.mode === "timeout") {
    await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    return failing(504, "simulated gateway timeout");
  }
  const answers = work();
  if (fault?.mode !== "lose") return answers;
  return answers.map((answer) =>
    answer.ok ? { ok: false, kind: "error", status: 504, reason: "simulated lost answer" } : answer,
  );
}
