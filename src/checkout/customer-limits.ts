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

/**
 * The customer's allowances a cart draws on, as lines of their own: each names the object that keeps
 * that customer's allowance of a limited SKU or product (a hash, so no email is in any name), is held
 * with the cart's stock under the order's id, and so is pinned, sold, given back and expired with it.
 */
export async function allowanceLines(
  priced: { line: CartLine; priced: PricedSku }[],
  email: string,
): Promise<(PlannedLine & { allowance: number; limit: CustomerLimit })[]> {
  const customer = customerKey(email);
  const limits: { key: string; quantity: number; limit: CustomerLimit }[] = [];
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
  return Promise.all(
    limits.map(async ({ key, quantity, limit }) => ({
      sku: `~limit~${(await sha256Hex(`${key}|${customer}`)).slice(0, 40)}`,
      quantity,
      buckets: 1,
      allowance: limit.max,
      limit,
    })),
  );
}

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
