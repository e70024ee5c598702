import type { PricedSku } from "../catalog/catalog.service";
import type { Problem } from "../errors";
import type { CartLine, PlannedLine, ShortSku } from "../inventory/inventory.holds";
import { sha256Hex } from "../shared/crypto";
import { perProduct } from "./drop-rules";

/** Mail hosts where dots in the local part are ignored: one mailbox, many spellings. */
const DOTLESS_HOSTS = new Set(["gmail.com", "googlemail.com"]);

/**
 * Who a customer is, for limits per customer: the email, lower-cased, with a `+tag` dropped (most
 * hosts deliver `name+tag@` to `name@`), and for Gmail-style hosts without dots, googlemail folded
 * into gmail. So `Jane.Doe+drop1@GMail.com` and `janedoe@googlemail.com` are one customer.
 */
export function customerKey(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 1) return email.trim().toLowerCase();
  let local = email.slice(0, at).trim().toLowerCase();
  let host = email
    .slice(at + 1)
    .trim()
    .toLowerCase();
  // Nothing before the "+" folds to nothing: "+1@" and "+2@" are not two customers.
  local = local.split("+")[0] ?? "";
  if (DOTLESS_HOSTS.has(host)) {
    local = local.replaceAll(".", "");
    host = "gmail.com";
  }
  return `${local}@${host}`;
}

/** A limit per customer, as a refusal names it; a drop's admission pass is a limit of one order. */
export type CustomerLimit =
  | { scope: "sku"; sku: string; max: number }
  | { scope: "product"; productId: string; max: number }
  | { scope: "pass"; productId: string; max: number };

/** A limit per customer that a cart is under: its key, the cart's units under it, and the limit. */
export type LimitLine = {
  key: string;
  quantity: number;
  limit: Extract<CustomerLimit, { scope: "sku" | "product" }>;
};

/** The limits per customer a cart is under: one per limited SKU, one per limited product. */
export function customerLimits(priced: { line: CartLine; priced: PricedSku }[]): LimitLine[] {
  const limits: LimitLine[] = [];
  for (const { line, priced: sku } of priced) {
    if (sku.maxPerCustomer !== null) {
      limits.push({
        key: `sku:${line.sku}`,
        quantity: line.quantity,
        limit: { scope: "sku", sku: line.sku, max: sku.maxPerCustomer },
      });
    }
  }
  for (const [productId, { quantity, max }] of perProduct(priced, (sku) => sku.productMaxPerCustomer)) {
    limits.push({ key: `product:${productId}`, quantity, limit: { scope: "product", productId, max } });
  }
  return limits;
}

type AllowanceLine = PlannedLine & { allowance: number; limit: CustomerLimit };

const allowanceLine = (sku: string, { quantity, limit }: LimitLine): AllowanceLine => ({
  sku,
  quantity,
  buckets: 1,
  allowance: limit.max,
  limit,
});

/**
 * The customer's allowances a cart draws on, as lines of their own: each names the object that keeps
 * that customer's allowance of a limited SKU or product (a hash, so no email is in any name), is held
 * with the cart's stock under the order's id, and so is pinned, sold, given back and expired with it.
 */
export async function allowanceLines(
  priced: { line: CartLine; priced: PricedSku }[],
  email: string,
): Promise<AllowanceLine[]> {
  const customer = customerKey(email);
  return Promise.all(
    customerLimits(priced).map(async (limit) =>
      allowanceLine(`~limit~${(await sha256Hex(`${limit.key}|${customer}`)).slice(0, 40)}`, limit),
    ),
  );
}

/**
 * The same limits counted by the card that pays, the second key of a customer: one allowance object
 * per limit and card, named by a hash of the limit and the gateway's card fingerprint (itself an
 * opaque id the gateway gives per card number), so no fingerprint is in any name. Held under the
 * order's id like the email's, so two orders paying with one card are serialised by that object.
 */
export async function cardAllowanceLines(limits: LimitLine[], fingerprint: string): Promise<AllowanceLine[]> {
  return Promise.all(
    limits.map(async (limit) =>
      allowanceLine(
        `${CARD_ALLOWANCE}${(await sha256Hex(`card|${limit.key}|${fingerprint}`)).slice(0, 40)}`,
        limit,
      ),
    ),
  );
}

/** The names of card allowance objects start so, and those of holds on them. */
export const CARD_ALLOWANCE = "~card~";

/**
 * A drop's admission pass as a line of the cart: an allowance of one order for the pass, held with the
 * stock, so two orders cannot use one pass, and a failed order gives it back.
 */
export async function passLine(passId: string, productId: string) {
  return {
    sku: `~pass~${(await sha256Hex(`pass|${passId}`)).slice(0, 40)}`,
    quantity: 1,
    buckets: 1,
    allowance: 1,
    limit: { scope: "pass" as const, productId, max: 1 },
  };
}

/** Whether a line (or a hold, or a short SKU) is an allowance (a customer's, a pass's), not stock. */
export const isAllowance = (sku: string) => sku.startsWith("~");

/**
 * The refusal of a cart that would take a customer past a limit: the limit, what the cart asked
 * for, and what the customer may still take (their allowance less what they hold or bought).
 */
export function limitRefusal(
  short: ShortSku[],
  lines: { sku: string; quantity: number; limit?: CustomerLimit }[],
): Problem | null {
  const over = short.find((entry) => isAllowance(entry.sku));
  const line = over && lines.find((candidate) => candidate.sku === over.sku);
  if (!over || !line?.limit) return null;
  if (line.limit.scope === "pass") {
    return {
      code: "admission_pass_used",
      detail: "This admission pass is already used by another order (it comes back if that order fails)",
    };
  }
  const { max, ...what } = line.limit;
  const name = what.scope === "sku" ? `SKU ${what.sku}` : `product ${what.productId}`;
  return {
    code: "purchase_limit_exceeded",
    detail: `At most ${max} of ${name} per customer; ${over.available} more can be bought with this email now (units held by its unpaid orders come back if they fail). Nothing was held.`,
    extensions: {
      limit: { ...what, per: "customer", max },
      requested: line.quantity,
      remaining: over.available,
    },
  };
}

/**
 * Why an order failed when the card paying for it was past a limit per customer: the stable code
 * first, then the limit, as the buyer reads it on the order.
 */
export function cardLimitReason(limit: LimitLine["limit"], remaining: number, inDoubt: boolean): string {
  const name = limit.scope === "sku" ? `SKU ${limit.sku}` : `product ${limit.productId}`;
  const money = inDoubt
    ? "a payment an earlier attempt left open is withdrawn, or refunded"
    : "nothing was charged";
  return `purchase_limit_exceeded: at most ${limit.max} of ${name} per customer, and the card paying may buy ${remaining} more now (units its other unpaid orders hold come back if they fail); ${money}`;
}
