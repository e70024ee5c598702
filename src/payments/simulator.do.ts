import { DurableObject } from "cloudflare:workers";
import { z } from "zod";

/**
 * The payment gateway Stampede runs against locally and in tests. Its behaviour is chosen by the
 * payment token, as a sandbox card number would choose it:
 * - `tok_ok`: the charge succeeds;
 * - `tok_declined`: a permanent decline;
 * - `tok_flaky`: the first 2 attempts fail with a 5xx, then the charge succeeds;
 * - `tok_timeout_after_charge`: the first attempt charges and then times out;
 * - `tok_down`: every attempt fails with a 5xx.
 * Charges are kept in a ledger keyed by idempotency key, so a repeated charge never charges twice.
 */
export type SimulatedCharge = {
  id: string;
  orderId: string;
  amount: { amount: number; currency: string };
  status: "succeeded" | "refunded";
  idempotencyKey: string;
  createdAt: string;
};

export type SimulatorAnswer =
  | { ok: true; charge: SimulatedCharge }
  | { ok: false; kind: "declined"; reason: string }
  | { ok: false; kind: "error"; status: 500 | 503 | 504; reason: string };

const ChargeArgs = z
  .object({
    idempotencyKey: z.string().min(1).max(255),
    orderId: z.string().min(1).max(128),
    amount: z.number().int().min(0),
    currency: z.string().regex(/^[A-Z]{3}$/),
    token: z.string().min(1).max(255),
  })
  .strict();

type ChargeRow = {
  id: string;
  order_id: string;
  amount: number;
  currency: string;
  status: "succeeded" | "refunded";
  idempotency_key: string;
  created_at: string;
};

function toCharge(row: ChargeRow): SimulatedCharge {
  return {
    id: row.id,
    orderId: row.order_id,
    amount: { amount: row.amount, currency: row.currency },
    status: row.status,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
  };
}

export class GatewaySimulator extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS charges (
          id TEXT PRIMARY KEY,
          idempotency_key TEXT NOT NULL UNIQUE,
          order_id TEXT NOT NULL,
          amount INTEGER NOT NULL,
          currency TEXT NOT NULL,
          status TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS charges_order ON charges (order_id);
        CREATE TABLE IF NOT EXISTS attempts (idempotency_key TEXT PRIMARY KEY, count INTEGER NOT NULL);
      `);
    });
  }

  #existing(idempotencyKey: string): SimulatedCharge | null {
    const row = this.#sql
      .exec<ChargeRow>("SELECT * FROM charges WHERE idempotency_key = ?", idempotencyKey)
      .toArray()[0];
    return row ? toCharge(row) : null;
  }

  #attempt(idempotencyKey: string): number {
    return this.#sql
      .exec<{ count: number }>(
        `INSERT INTO attempts (idempotency_key, count) VALUES (?, 1)
         ON CONFLICT (idempotency_key) DO UPDATE SET count = count + 1 RETURNING count`,
        idempotencyKey,
      )
      .one().count;
  }

  #create(args: z.infer<typeof ChargeArgs>): SimulatedCharge {
    const id = `ch_sim_${crypto.randomUUID().replaceAll("-", "")}`;
    const row = this.#sql
      .exec<ChargeRow>(
        "INSERT INTO charges (id, idempotency_key, order_id, amount, currency, status, created_at) VALUES (?, ?, ?, ?, ?, 'succeeded', ?) RETURNING *",
        id,
        args.idempotencyKey,
        args.orderId,
        args.amount,
        args.currency,
        new Date().toISOString(),
      )
      .one();
    return toCharge(row);
  }

  charge(input: z.input<typeof ChargeArgs>): SimulatorAnswer {
    const parsed = ChargeArgs.safeParse(input);
    if (!parsed.success) return { ok: false, kind: "declined", reason: "invalid_request" };
    const args = parsed.data;
    const attempt = this.#attempt(args.idempotencyKey);
    const existing = this.#existing(args.idempotencyKey);
    switch (args.token) {
      case "tok_down":
        return { ok: false, kind: "error", status: 503, reason: "gateway unavailable" };
      case "tok_declined":
        return { ok: false, kind: "declined", reason: "card_declined" };
      case "tok_flaky":
        if (attempt <= 2) return { ok: false, kind: "error", status: 500, reason: "gateway error" };
        return { ok: true, charge: existing ?? this.#create(args) };
      case "tok_timeout_after_charge":
        if (attempt === 1) {
          this.#create(args);
          return { ok: false, kind: "error", status: 504, reason: "gateway timeout" };
        }
        return { ok: true, charge: existing ?? this.#create(args) };
      case "tok_ok":
        return { ok: true, charge: existing ?? this.#create(args) };
      default:
        return { ok: false, kind: "declined", reason: "invalid_token" };
    }
  }

  /** Several charges in one call, each answered as if alone: what a batch API of a gateway does. */
  chargeMany(inputs: z.input<typeof ChargeArgs>[]): SimulatorAnswer[] {
    return inputs.slice(0, 1000).map((input) => this.charge(input));
  }

  lookup(idempotencyKey: string): SimulatedCharge | null {
    return this.#existing(idempotencyKey);
  }

  refund(chargeId: string): SimulatedCharge | null {
    this.#sql.exec("UPDATE charges SET status = 'refunded' WHERE id = ?", chargeId);
    const row = this.#sql.exec<ChargeRow>("SELECT * FROM charges WHERE id = ?", chargeId).toArray()[0];
    return row ? toCharge(row) : null;
  }

  charges(orderId?: string): SimulatedCharge[] {
    const rows = orderId
      ? this.#sql.exec<ChargeRow>("SELECT * FROM charges WHERE order_id = ? ORDER BY created_at", orderId)
      : this.#sql.exec<ChargeRow>("SELECT * FROM charges ORDER BY created_at DESC LIMIT 1000");
    return rows.toArray().map(toCharge);
  }
}
