import { createHmac, timingSafeEqual } from "node:crypto";
import type { Product } from "../../catalog/catalog.schemas";
import { cardShard, drawBook, shardOfEntry, windowOf } from "../../draws/draws";
import type { DrawWindow, EntryRow, EntryState } from "../../draws/entries.store";
import type { Scope } from "../../http/scope";
import type { PaymentAction } from "../../payments/gateway";
import { gatewayFor } from "../../payments/gateways";
import { AppError } from "../../shared/errors";
import { logEvent } from "../../shared/log";
import type { Order } from "../orders.schemas";
import { totalsOf } from "../orders.view";
import { drawRunner, productOf } from "./draw.service";
import { authorizationOf, RELEASED } from "./duties";
import { drawnOrderToken } from "./winners";

export type EntryRequest = {
  email: string;
  name?: string;
  shippingAddress?: Record<string, string>;
  /** The shipping method chosen for the address (as checkout's `shipping`), where the shop has zones. */
  shipping?: { method: string };
  sku: string;
  paymentToken: string;
  turnstileToken?: string;
};

/** What a buyer is shown of their entry. */
export type EntryView = {
  entryId: string;
  product: string;
  sku: string;
  state: EntryState;
  reason: string | null;
  /** What is authorized, and charged if the entry wins: `totals.total`. */
  amount: { amount: number; currency: string };
  totals: Order["totals"];
  shippingMethod?: { id: string; name: string };
  enteredAt: string | null;
  closesAt: string;
  authorizationExpiresAt: string | null;
  /** A winner's order, and the token that reads it (GET /v1/orders/{id}). */
  order?: { orderId: string; orderToken: string };
};

export type EntryAnswer =
  | { status: 201 | 200; entry: EntryView; entryToken: string; replayed: boolean }
  | { status: 202; entry: EntryView; entryToken: string; action: PaymentAction };

type Draw = { product: Product; window: DrawWindow };

/** A product's draw as the catalog shows it, or 404. */
export async function drawOf(scope: Scope, idOrSlug: string): Promise<Draw> {
  const product = await productOf(scope, idOrSlug);
  if (!product?.draw) throw new AppError("draw_not_found", { detail: `${idOrSlug} is not sold by draw` });
  return { product, window: windowOf(product.id, product.draw) };
}

/**
 * The entry's bearer token: `<entryId>.<MAC>`, an HMAC of the entry id under ADMISSION_SECRET, so it is
 * made again for a replay and checked without a store. Anyone holding it may read and withdraw the entry.
 */
export function entryTokenSecret(env: Env): string {
  const secret = env.ADMISSION_SECRET;
  if (!secret) {
    throw new AppError("draw_not_configured", {
      detail: "Draws need ADMISSION_SECRET (wrangler secret put ADMISSION_SECRET)",
      headers: { "Retry-After": "300" },
    });
  }
  return secret;
}

const macOf = (secret: string, entryId: string) =>
  createHmac("sha256", secret).update(`draw-entry|${entryId}`, "utf8").digest("base64url");

/** An entry's bearer token, under the secret (see entryTokenSecret). */
export const entryTokenOf = (secret: string, entryId: string) => `${entryId}.${macOf(secret, entryId)}`;

/** The entry id a bearer token stands for, or 403. */
export function entryIdOf(env: Env, authorization: string | undefined): string {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1] ?? "";
  const dot = token.lastIndexOf(".");
  const entryId = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(macOf(entryTokenSecret(env), entryId));
  if (
    dot < 1 ||
    shardOfEntry(entryId) === null ||
    given.length !== expected.length ||
    !timingSafeEqual(given, expected)
  ) {
    throw new AppError("draw_entry_token_invalid", { detail: "Send the entry's token as a bearer token" });
  }
  return entryId;
}

export function viewOf(entry: EntryRow, window: DrawWindow, env?: Env): EntryView {
  const amount = { amount: entry.amount, currency: entry.currency };
  // An entry made before entries were priced authorized its unit price alone.
  const pricing = entry.pricing ?? undefined;
  return {
    ...(env && entry.orderId
      ? { order: { orderId: entry.orderId, orderToken: drawnOrderToken(env, entry.orderId) } }
      : {}),
    entryId: entry.entryId,
    product: window.product,
    sku: entry.sku,
    state: entry.state,
    reason: entry.reason,
    amount,
    totals: totalsOf([{ quantity: 1, unitPrice: amount }], amount, pricing),
    ...(pricing?.shippingMethod ? { shippingMethod: pricing.shippingMethod } : {}),
    enteredAt: entry.enteredAt === null ? null : new Date(entry.enteredAt).toISOString(),
    closesAt: new Date(window.closesAt).toISOString(),
    authorizationExpiresAt: entry.authExpiresAt === null ? null : new Date(entry.authExpiresAt).toISOString(),
  };
}

export function unavailable(detail: string, retryAfter = 2): AppError {
  return new AppError("service_unavailable", { detail, headers: { "Retry-After": String(retryAfter) } });
}

/**
 * Cancels an entry's authorization now, if it owes one and the gateway answers; else the draw's sweep
 * does (the draw is woken for it, should it be resting). Never throws.
 */
export async function cancelNow(env: Env, window: DrawWindow, entry: EntryRow): Promise<EntryRow> {
  if (entry.auth !== "owed") return entry;
  const book = drawBook(env, window.product, shardOfEntry(entry.entryId) ?? 0);
  try {
    const after = await (await gatewayFor(env)).cancelAuthorization(authorizationOf(entry));
    if (RELEASED.has(after.status)) {
      return (await book.apply(entry.entryId, { type: "auth_cancelled" }))?.entry ?? entry;
    }
  } catch (error) {
    logEvent("warn", "an entry's authorization was not cancelled yet; the sweep will", {
      entryId: entry.entryId,
      error: String(error),
    });
  }
  await drawRunner(env, window.product)
    .wake()
    .catch(() => undefined);
  return entry;
}

/** Gives back the card an entry that left the draw claimed, now if its book answers (else the sweep). */
export async function releaseCardNow(env: Env, window: DrawWindow, entry: EntryRow): Promise<EntryRow> {
  if (
    entry.card !== "held" ||
    !entry.fingerprint ||
    (entry.state !== "void" && entry.state !== "withdrawn")
  ) {
    return entry;
  }
  try {
    await drawBook(env, window.product, cardShard(window.product, entry.fingerprint)).releaseCard(
      entry.fingerprint,
      entry.entryId,
    );
    const book = drawBook(env, window.product, shardOfEntry(entry.entryId) ?? 0);
    return (await book.apply(entry.entryId, { type: "card_released" }))?.entry ?? entry;
  } catch {
    return entry;
  }
}

/** A buyer's entry, by its bearer token. */
export async function readEntry(scope: Scope, idOrSlug: string, authorization: string | undefined) {
  const { window } = await drawOf(scope, idOrSlug);
  const entryId = entryIdOf(scope.env, authorization);
  const entry = await drawBook(scope.env, window.product, shardOfEntry(entryId) ?? 0).entry(entryId);
  if (!entry) throw new AppError("draw_entry_not_found", { detail: "No such entry in this draw" });
  return viewOf(entry, window, scope.env);
}

/**
 * Withdraws an entry before the close: it leaves the draw at once, and its authorization is cancelled
 * now if the gateway answers (else by the draw's sweep, within a minute).
 */
export async function withdraw(scope: Scope, idOrSlug: string, authorization: string | undefined) {
  const { env } = scope;
  const { window } = await drawOf(scope, idOrSlug);
  const entryId = entryIdOf(env, authorization);
  const book = drawBook(env, window.product, shardOfEntry(entryId) ?? 0);
  const answer = await book.apply(entryId, { type: "withdraw" });
  if (!answer) throw new AppError("draw_entry_not_found", { detail: "No such entry in this draw" });
  if (answer.kind === "closed")
    throw new AppError("draw_closed", { detail: "Entries are closed; the draw stands" });
  if (answer.kind === "refused") {
    throw new AppError("draw_entry_not_found", { detail: "This entry never entered the draw" });
  }
  const entry = await cancelNow(env, window, await releaseCardNow(env, window, answer.entry));
  return viewOf(entry, window);
}
