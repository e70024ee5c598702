import { z } from "zod";
import { sha256Hex } from "../shared/crypto";
import { customerKey } from "../shared/customer-key";

/**
 * Allowances: stock objects whose units are what one customer (or one card, or one admission pass)
 * may still buy, held, pinned, sold, given back and expired under an order's id exactly as stock is,
 * in the same call as the cart's stock. So a cart racing another of the same customer is serialised by
 * the allowance object, and an order that fails gives its allowance back with its units. An
 * allowance's object is named by a hash (no email or card fingerprint is in any name); what kind of
 * allowance a line or a hold is travels with it, never read back from the name.
 */
export type AllowanceKind = "customer" | "card" | "pass" | "code";

const Id = z.string().min(1).max(64);
const Max = z.number().int().min(1).max(1_000_000);

/**
 * A limit per customer of a SKU, a product or a discount code's uses: what a customer's (or a card's)
 * allowance stands for.
 */
const PurchaseLimit = z.discriminatedUnion("scope", [
  z.object({ scope: z.literal("sku"), sku: Id, max: Max }),
  z.object({ scope: z.literal("product"), productId: Id, max: Max }),
  z.object({ scope: z.literal("code"), code: Id, max: Max }),
]);

/**
 * What an allowance stands for: a purchase limit, a drop's admission pass (one order at a time), or
 * all the uses a discount code has (`uses`: its total cap, over every customer).
 */
const AllowanceLimit = z.discriminatedUnion("scope", [
  ...PurchaseLimit.options,
  z.object({ scope: z.literal("pass"), productId: Id, max: z.literal(1) }),
  z.object({ scope: z.literal("uses"), code: Id, max: Max }),
]);

/** An allowance line of a cart: its kind, and the limit it stands for (`max` is the allowance). */
export const Allowance = z.object({
  kind: z.enum(["customer", "card", "pass", "code"]),
  limit: AllowanceLimit,
  /** The limit's version: an object follows no limit older than one it followed (see reserveWithin). */
  version: z.number().int().min(0).optional(),
  /** A code's cap split over buckets: the cap is the one the code was made with (see code-uses.ts). */
  fresh: z.boolean().optional(),
});
export type Allowance = z.infer<typeof Allowance>;

/** A limit per customer that a cart is under: its key, the cart's units under it, and the limit. */
export const LimitLine = z.object({
  key: z.string().min(1).max(80),
  quantity: z.number().int().min(1).max(1_000_000),
  limit: PurchaseLimit,
  version: z.number().int().min(0).optional(),
});
export type LimitLine = z.infer<typeof LimitLine>;

/** A cart line drawing on an allowance object (one bucket, but for a hot code's uses: code-uses.ts). */
export type AllowanceLine = { sku: string; quantity: number; buckets: number; allowance: Allowance };

const allowanceLine = (
  sku: string,
  kind: AllowanceKind,
  { quantity, limit, version }: LimitLine,
): AllowanceLine => ({
  sku,
  quantity,
  buckets: 1,
  allowance: { kind, limit, ...(version ? { version } : {}) },
});

const nameOf = async (prefix: string, text: string) => `${prefix}${(await sha256Hex(text)).slice(0, 40)}`;

/**
 * A customer's allowances a cart draws on, one per limit, keyed by the normalized email (see
 * customerKey): held with the cart's stock, so sold, given back and expired with it.
 */
export function customerAllowanceLines(limits: LimitLine[], email: string): Promise<AllowanceLine[]> {
  const customer = customerKey(email);
  return Promise.all(
    limits.map(async (limit) =>
      allowanceLine(await nameOf("~limit~", `${limit.key}|${customer}`), "customer", limit),
    ),
  );
}

/**
 * The same limits counted by the card that pays, the customer's second key: one allowance object per
 * limit and card, named by a hash of the limit and the gateway's card fingerprint (itself an opaque id
 * the gateway gives per card number), so two orders paying with one card are serialised by it.
 */
export function cardAllowanceLines(limits: LimitLine[], fingerprint: string): Promise<AllowanceLine[]> {
  return Promise.all(
    limits.map(async (limit) =>
      allowanceLine(await nameOf("~card~", `card|${limit.key}|${fingerprint}`), "card", limit),
    ),
  );
}

/**
 * A drop's admission pass as a line of the cart: an allowance of one order for the pass, so two orders
 * cannot use one pass, and a failed order gives it back.
 */
export async function passLine(passId: string, productId: string): Promise<AllowanceLine> {
  return {
    sku: await nameOf("~pass~", `pass|${passId}`),
    quantity: 1,
    buckets: 1,
    allowance: { kind: "pass", limit: { scope: "pass", productId, max: 1 } },
  };
}

/** The object counting a discount code's uses over every customer: its name, for reading them. */
export const codeUsesName = (code: string) => nameOf("~code~", `code|${code}`);

/**
 * A discount code's total cap as a line of the cart: one use, drawn from an allowance of `max` uses,
 * held, committed, given back and expired with the order's stock, so the cap holds exactly however
 * many checkouts race for the last use. A hot code's cap is split over `buckets` objects (see
 * code-uses.ts); `fresh` says `max` is the cap the code was made with, never changed since.
 */
export async function codeUseLine(
  code: string,
  max: number,
  version: number,
  split: { buckets: number; fresh: boolean } = { buckets: 1, fresh: false },
): Promise<AllowanceLine> {
  return {
    sku: await codeUsesName(code),
    quantity: 1,
    buckets: split.buckets,
    allowance: {
      kind: "code",
      limit: { scope: "uses", code, max },
      version,
      ...(split.buckets > 1 ? { fresh: split.fresh } : {}),
    },
  };
}
