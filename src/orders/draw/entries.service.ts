import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { Product } from "../../catalog/catalog.schemas";
import { readProduct } from "../../catalog/catalog.service";
import { cardShard, customerShard, drawBook, newEntryId, shardOfEntry, windowOf } from "../../draws/draws";
import type { DrawWindow, EntryRow, EntryState } from "../../draws/entries.store";
import { spendJoin } from "../../drops/join-limit";
import { checkTurnstile } from "../../drops/turnstile";
import type { Scope } from "../../http/scope";
import type { PaymentAction, PaymentGateway } from "../../payments/gateway";
import { gatewayFor } from "../../payments/gateways";
import { paymentMode } from "../../shared/config";
import { customerKey } from "../../shared/customer-key";
import { AppError } from "../../shared/errors";
import { logEvent } from "../../shared/log";
import { authorizationOf, entryAuthKey } from "./duties";
import { drawnOrderToken } from "./winners";

export type EntryRequest = {
  email: string;
  name?: string;
  shippingAddress?: Record<string, string>;
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
  amount: { amount: number; currency: string };
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
  const read = await readProduct(scope, idOrSlug);
  const product: Product | null = read ? JSON.parse(read.entry.body) : null;
  if (!product?.draw) throw new AppError("draw_not_found", { detail: `${idOrSlug} is not sold by draw` });
  return { product, window: windowOf(product.id, product.draw) };
}

/**
 * The entry's bearer token: `<entryId>.<MAC>`, an HMAC of the entry id under ADMISSION_SECRET, so it is
 * made again for a replay and checked without a store. Anyone holding it may read and withdraw the entry.
 */
function secretOf(env: Env): string {
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

/** The entry id a bearer token stands for, or 403. */
export function entryIdOf(env: Env, authorization: string | undefined): string {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1] ?? "";
  const dot = token.lastIndexOf(".");
  const entryId = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(macOf(secretOf(env), entryId));
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

function viewOf(entry: EntryRow, window: DrawWindow, env?: Env): EntryView {
  return {
    ...(env && entry.orderId
      ? { order: { orderId: entry.orderId, orderToken: drawnOrderToken(env, entry.orderId) } }
      : {}),
    entryId: entry.entryId,
    product: window.product,
    sku: entry.sku,
    state: entry.state,
    reason: entry.reason,
    amount: { amount: entry.amount, currency: entry.currency },
    enteredAt: entry.enteredAt === null ? null : new Date(entry.enteredAt).toISOString(),
    closesAt: new Date(window.closesAt).toISOString(),
    authorizationExpiresAt: entry.authExpiresAt === null ? null : new Date(entry.authExpiresAt).toISOString(),
  };
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

function unavailable(detail: string, retryAfter = 2): AppError {
  return new AppError("service_unavailable", { detail, headers: { "Retry-After": String(retryAfter) } });
}

/**
 * Enters a buyer in a product's draw: one live entry per customer (the normalized email) and per card
 * (the gateway's fingerprint), accepted only once the price is authorized at the gateway, and only
 * before the close. Every step can be retried under the same Idempotency-Key and carries the same
 * entry on; a step that throws leaves the entry pending with what it owes written down first (the
 * card it claims, that an authorization may exist), for the draw's sweep to settle (duties.ts).
 */
export async function enter(
  scope: Scope,
  idOrSlug: string,
  key: string,
  request: EntryRequest,
  client: { ip: string | undefined; hostname: string; headers: Headers },
): Promise<EntryAnswer> {
  const { env } = scope;
  const secret = secretOf(env);
  const { product, window } = await drawOf(scope, idOrSlug);
  const now = Date.now();
  if (now < window.opensAt) {
    throw new AppError("draw_not_open", {
      detail: `Entries open at ${new Date(window.opensAt).toISOString()}`,
      headers: { "Retry-After": String(Math.ceil((window.opensAt - now) / 1000)) },
      extensions: { opensAt: new Date(window.opensAt).toISOString() },
    });
  }
  if (now >= window.closesAt) throw new AppError("draw_closed", { detail: "Entries are closed" });
  const variant = product.variants.find((candidate) => candidate.sku === request.sku);
  if (!variant || !product.draw?.units[request.sku]) {
    throw new AppError("draw_sku_not_drawn", { detail: `${request.sku} is not drawn in this draw` });
  }
  if (!paymentMode(env).ready) {
    throw new AppError("payments_not_configured", {
      detail: "This shop cannot take payments",
      headers: { "Retry-After": "300" },
    });
  }
  if (product.requiresShipping !== false && !request.shippingAddress) {
    throw new AppError("validation_failed", {
      detail: "This product ships: an entry needs the shipping address the unit goes to if it wins",
      errors: [{ path: "shippingAddress", message: "Required for a product that ships", in: "body" }],
    });
  }
  await spendJoin(env, client.headers);
  await checkTurnstile(env, request.turnstileToken, { ip: client.ip, hostname: client.hostname });

  const customer = customerKey(request.email);
  const shard = customerShard(product.id, customer);
  const book = drawBook(env, product.id, shard);
  const { turnstileToken: _, ...entered } = request;
  const begun = await book
    .begin({
      window,
      entryId: newEntryId(shard, now),
      customer,
      email: request.email,
      name: request.name ?? null,
      address: request.shippingAddress ?? null,
      sku: request.sku,
      amount: variant.price.amount,
      currency: variant.price.currency,
      token: request.paymentToken,
      keyHash: sha256(`${product.id}|${key}`),
      bodyHash: sha256(
        JSON.stringify([
          entered.email,
          entered.name ?? null,
          entered.shippingAddress ?? null,
          entered.sku,
          entered.paymentToken,
        ]),
      ),
    })
    .catch((error: unknown) => {
      throw unavailable(`The draw's entries could not be reached: ${String(error)}`);
    });
  switch (begun.kind) {
    case "not_open":
      throw new AppError("draw_not_open", { detail: "Entries are not open yet" });
    case "closed":
      throw new AppError("draw_closed", { detail: "Entries are closed" });
    case "mismatch":
      throw new AppError("idempotency_key_mismatch", {
        detail: "This key entered the draw with another body",
      });
    case "window_changed":
      logEvent("error", "a draw's window differs from its entry book's", { product: product.id });
      throw unavailable("The draw's settings are being updated", 30);
    case "taken":
      throw new AppError("draw_already_entered", {
        detail: "This customer already has an entry in this draw (one entry per customer)",
      });
    case "begun":
      break;
  }
  const token = `${begun.entry.entryId}.${macOf(secret, begun.entry.entryId)}`;
  if (begun.entry.state !== "pending") {
    return { status: 200, entry: viewOf(begun.entry, window), entryToken: token, replayed: true };
  }
  return carryOn(env, window, begun.entry, token);
}

/** Carries a pending entry on: its card's claim, its authorization, its entry. */
async function carryOn(env: Env, window: DrawWindow, pending: EntryRow, token: string): Promise<EntryAnswer> {
  const book = drawBook(env, window.product, shardOfEntry(pending.entryId) ?? 0);
  const fail = async (reason: string, authMayExist: boolean) => {
    await book.apply(pending.entryId, { type: "failed", reason, authMayExist });
  };
  const gateway = await gatewayFor(env);
  let entry = pending;
  if (entry.fingerprint === null) {
    const card = await gateway.fingerprint(entry.token).catch((error: unknown) => {
      throw unavailable(`The payment gateway could not be reached: ${String(error)}`);
    });
    if (card.status === "throttled")
      throw unavailable("The payment gateway is busy", Math.ceil(card.retryAfterMs / 1000));
    if (card.status === "invalid") {
      await fail("payment_token_invalid", false);
      throw new AppError("payment_token_invalid", { detail: card.reason });
    }
    if (card.status === "card") {
      const noted = await book.apply(entry.entryId, { type: "card_noted", fingerprint: card.fingerprint });
      if (noted?.kind !== "ok") throw unavailable("The entry changed meanwhile; try again");
      entry = noted.entry;
    }
  }
  if (entry.fingerprint !== null) {
    const claim = await drawBook(env, window.product, cardShard(window.product, entry.fingerprint)).claimCard(
      entry.fingerprint,
      entry.entryId,
      window,
    );
    if (claim.kind === "taken") {
      await fail("card_used", false);
      throw new AppError("draw_card_used", {
        detail: "This card is already in the draw (one entry per card)",
      });
    }
    if (claim.kind !== "claimed") {
      await fail("closed", false);
      throw new AppError("draw_closed", { detail: "Entries are closed" });
    }
  }
  const asked = entry.auth === "maybe";
  const asking = await book.apply(entry.entryId, { type: "authorizing" });
  if (asking?.kind === "closed") {
    await fail("closed", false);
    throw new AppError("draw_closed", { detail: "Entries are closed" });
  }
  if (asking?.kind !== "ok") throw unavailable("The entry changed meanwhile; try again");
  return authorize(env, gateway, window, asking.entry, token, asked);
}

async function authorize(
  env: Env,
  gateway: PaymentGateway,
  window: DrawWindow,
  entry: EntryRow,
  token: string,
  asked: boolean,
): Promise<EntryAnswer> {
  const book = drawBook(env, window.product, shardOfEntry(entry.entryId) ?? 0);
  // An earlier attempt asked already: what the gateway holds now decides (a buyer who completed 3-D
  // Secure since has an authorization; asking again under the key would replay the first answer).
  if (asked) {
    const found = await gateway.lookupAuthorization(authorizationOf(entry)).catch(() => null);
    if (found?.status === "authorized") {
      return entered(
        book,
        window,
        entry,
        token,
        found.intentId ?? entry.intentId ?? entryAuthKey(entry.entryId),
        found.expiresAt,
      );
    }
    if (found?.status === "requires_action") {
      return { status: 202, entry: viewOf(entry, window), entryToken: token, action: found.action };
    }
    if (found === null || found.status === "captured") {
      throw unavailable("The payment gateway did not answer; retry with the same Idempotency-Key");
    }
    if (found.status === "failed" || found.status === "cancelled") {
      await book.apply(entry.entryId, { type: "failed", reason: "declined", authMayExist: false });
      throw new AppError("payment_declined", { detail: "The card's authorization did not succeed" });
    }
  }
  const outcome = await gateway.authorize(authorizationOf(entry)).catch((error: unknown) => ({
    status: "unknown" as const,
    reason: String(error),
  }));
  switch (outcome.status) {
    case "authorized":
      return entered(book, window, entry, token, outcome.intentId, outcome.expiresAt);
    case "declined":
      await book.apply(entry.entryId, { type: "failed", reason: "declined", authMayExist: false });
      throw new AppError("payment_declined", { detail: `The card was declined: ${outcome.reason}` });
    case "requires_action":
      return { status: 202, entry: viewOf(entry, window), entryToken: token, action: outcome.action };
    case "throttled":
      throw unavailable("The payment gateway is busy", Math.ceil(outcome.retryAfterMs / 1000));
    case "unknown":
      throw unavailable("The payment gateway did not answer; retry with the same Idempotency-Key");
  }
}

async function entered(
  book: ReturnType<typeof drawBook>,
  window: DrawWindow,
  entry: EntryRow,
  token: string,
  intentId: string,
  expiresAt: string,
): Promise<EntryAnswer> {
  const answer = await book.apply(entry.entryId, {
    type: "authorized",
    intentId,
    expiresAt: Date.parse(expiresAt),
  });
  if (answer?.kind === "closed") throw new AppError("draw_closed", { detail: "Entries closed meanwhile" });
  if (answer?.entry.state !== "entered") throw unavailable("The entry changed meanwhile; try again");
  return { status: 201, entry: viewOf(answer.entry, window), entryToken: token, replayed: false };
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
  let entry = answer.entry;
  if (entry.card === "held" && entry.fingerprint) {
    await drawBook(env, window.product, cardShard(window.product, entry.fingerprint))
      .releaseCard(entry.fingerprint, entryId)
      .then(async () => {
        entry = (await book.apply(entryId, { type: "card_released" }))?.entry ?? entry;
      })
      .catch(() => undefined);
  }
  if (entry.auth === "owed") {
    try {
      await (await gatewayFor(env)).cancelAuthorization(authorizationOf(entry));
      entry = (await book.apply(entryId, { type: "auth_cancelled" }))?.entry ?? entry;
    } catch (error) {
      logEvent("warn", "a withdrawn entry's authorization was not cancelled yet; the sweep will", {
        entryId,
        error: String(error),
      });
    }
  }
  return viewOf(entry, window);
}
