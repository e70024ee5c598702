import { cardShard, customerShard, drawBook, newEntryId, shardOfEntry } from "../../draws/draws";
import type { DrawWindow, EntryRow } from "../../draws/entries.store";
import { spendJoin } from "../../drops/join-limit";
import { checkTurnstile } from "../../drops/turnstile";
import type { Scope } from "../../http/scope";
import type { PaymentGateway } from "../../payments/gateway";
import { gatewayFor } from "../../payments/gateways";
import { paymentMode } from "../../shared/config";
import { sha256Hex } from "../../shared/crypto";
import { customerKey } from "../../shared/customer-key";
import { AppError } from "../../shared/errors";
import { authorizationOf } from "./duties";
import {
  cancelNow,
  drawOf,
  type EntryAnswer,
  type EntryRequest,
  entryTokenOf,
  entryTokenSecret,
  releaseCardNow,
  unavailable,
  viewOf,
} from "./entries.service";
import { priceEntry } from "./entry-price";

/** An authorization must hold this long past the close, for the winners' captures. */
const CAPTURE_MARGIN_MS = 6 * 3_600_000;

/** The refusal an attempt ended with, given again to the same request: a refusal never turns into an entry. */
function refusalOf(entry: EntryRow): AppError {
  switch (entry.reason) {
    case "declined":
      return new AppError("payment_declined", { detail: "The card declined the authorization" });
    case "authorization_too_short":
      return new AppError("payment_declined", {
        detail: "The card's authorization would lapse before the draw could charge it",
      });
    case "card_used":
      return new AppError("draw_card_used", {
        detail: "This card is already in the draw (one entry per card)",
      });
    case "payment_token_invalid":
      return new AppError("payment_token_invalid", {
        detail: "The payment token is not one the gateway knows",
      });
    case "superseded":
      return new AppError("draw_already_entered", {
        detail: "A later attempt of this customer under another key took this one's place",
      });
    default:
      return new AppError("draw_closed", { detail: "Entries are closed" });
  }
}

/**
 * Enters a buyer in a product's draw: one live entry per customer (the normalized email) and per card
 * (the gateway's fingerprint), accepted only once the price is authorized at the gateway, and only
 * before the close. The same request again (same Idempotency-Key and body) carries the same entry on,
 * or answers as it ended, without the checks a new attempt meets (the window, the join limit,
 * Turnstile: a Turnstile token works once). Each step writes what it may leave behind before making
 * it (the card it claims, that an authorization may exist), so a request that stops leaves the entry
 * pending with its duties known, for its retry or the draw's sweep (duties.ts) to settle.
 */
export async function enter(
  scope: Scope,
  idOrSlug: string,
  key: string,
  request: EntryRequest,
  client: { ip: string | undefined; hostname: string; headers: Headers },
): Promise<EntryAnswer> {
  const { env } = scope;
  const secret = entryTokenSecret(env);
  const { product, window } = await drawOf(scope, idOrSlug);
  const variant = product.variants.find((candidate) => candidate.sku === request.sku);
  if (!variant || !product.draw?.units[request.sku]) {
    throw new AppError("draw_sku_not_drawn", { detail: `${request.sku} is not drawn in this draw` });
  }
  if (product.requiresShipping !== false && !request.shippingAddress) {
    throw new AppError("validation_failed", {
      detail: "This product ships: an entry needs the shipping address the unit goes to if it wins",
      errors: [{ path: "shippingAddress", message: "Required for a product that ships", in: "body" }],
    });
  }
  if (!paymentMode(env).ready) {
    throw new AppError("payments_not_configured", {
      detail: "This shop cannot take payments",
      headers: { "Retry-After": "300" },
    });
  }
  const customer = customerKey(request.email);
  const shard = customerShard(product.id, customer);
  const book = drawBook(env, product.id, shard);
  const keyHash = await sha256Hex(`${product.id}|${key}`);
  const bodyHash = await sha256Hex(
    JSON.stringify([
      request.email,
      request.name ?? null,
      request.shippingAddress ?? null,
      request.sku,
      request.paymentToken,
      // Appended only when chosen, so a request without one hashes as it did before methods existed.
      ...(request.shipping ? [request.shipping.method] : []),
    ]),
  );
  const known = await book.entryByKey(keyHash).catch((error: unknown) => {
    throw unavailable(`The draw's entries could not be reached: ${String(error)}`);
  });
  const now = Date.now();
  const replay = known?.bodyHash === bodyHash && !(known.state === "void" && known.reason === "abandoned");
  if (!replay) {
    // A draw the catalog shows cancelled is refused before anything is asked of the buyer's card.
    if (product.draw?.cancelledAt) throw cancelled(product.draw.cancelledAt);
    if (now < window.opensAt) {
      throw new AppError("draw_not_open", {
        detail: `Entries open at ${new Date(window.opensAt).toISOString()}`,
        headers: { "Retry-After": String(Math.ceil((window.opensAt - now) / 1000)) },
        extensions: { opensAt: new Date(window.opensAt).toISOString() },
      });
    }
    if (now >= window.closesAt) throw new AppError("draw_closed", { detail: "Entries are closed" });
  }
  // Priced before anything is written (pure reading); the same request again keeps the price it began
  // with, whatever the settings say now (its entry is carried on, or answered, as it stands).
  const price: Pick<EntryRow, "amount" | "currency" | "pricing"> =
    replay && known
      ? { amount: known.amount, currency: known.currency, pricing: known.pricing }
      : await priceEntry(scope, product, variant, request);
  if (!replay) {
    await spendJoin(env, client.headers);
    await checkTurnstile(env, request.turnstileToken, { ip: client.ip, hostname: client.hostname });
  }
  const begun = await book
    .begin({
      window,
      entryId: newEntryId(shard, now),
      customer,
      email: request.email,
      name: request.name ?? null,
      address: request.shippingAddress ?? null,
      sku: request.sku,
      amount: price.amount,
      currency: price.currency,
      pricing: price.pricing,
      token: request.paymentToken,
      keyHash,
      bodyHash,
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
      throw unavailable("The draw's settings are being updated", 30);
    case "taken":
      throw new AppError("draw_already_entered", {
        detail: "This customer already has an entry in this draw (one entry per customer)",
      });
    case "begun":
      break;
  }
  if (begun.superseded) await cancelNow(env, window, await releaseCardNow(env, window, begun.superseded));
  const entry = begun.entry;
  const token = entryTokenOf(secret, entry.entryId);
  if (entry.state === "void") throw refusalOf(entry);
  if (entry.state !== "pending") {
    return { status: 200, entry: viewOf(entry, window, env), entryToken: token, replayed: true };
  }
  return carryOn(env, window, entry, token, product.draw?.cancelledAt);
}

/** The refusal of an entry in a draw that was cancelled. */
const cancelled = (cancelledAt: string) =>
  new AppError("draw_closed", {
    detail: "This draw was cancelled; nobody was charged",
    extensions: { cancelledAt },
  });

/**
 * Carries a pending entry on: its card's claim, its authorization, its entry. In a draw the catalog
 * shows cancelled (`cancelledAt`) it ends at once, whatever its book says (the cancel may not have
 * frozen it yet): any authorization it may have is cancelled, never used.
 */
async function carryOn(
  env: Env,
  window: DrawWindow,
  pending: EntryRow,
  token: string,
  cancelledAt: string | undefined,
): Promise<EntryAnswer> {
  const book = drawBook(env, window.product, shardOfEntry(pending.entryId) ?? 0);
  /** The attempt ends without an entry: what it left is settled now if it can be, and its refusal told. */
  const fail = async (reason: string, held: "none" | "maybe", refusal: AppError): Promise<never> => {
    const answer = await book.apply(pending.entryId, { type: "failed", reason, held });
    if (answer) await cancelNow(env, window, await releaseCardNow(env, window, answer.entry));
    throw refusal;
  };
  if (cancelledAt) return fail("closed", "maybe", cancelled(cancelledAt));
  const gateway = await gatewayFor(env);
  let entry = pending;
  if (entry.fingerprint === null) {
    const card = await gateway.fingerprint(entry.token).catch((error: unknown) => {
      throw unavailable(`The payment gateway could not be reached: ${String(error)}`);
    });
    if (card.status === "throttled") {
      throw unavailable("The payment gateway is busy", Math.ceil(card.retryAfterMs / 1000));
    }
    if (card.status === "invalid") {
      return fail(
        "payment_token_invalid",
        "maybe",
        new AppError("payment_token_invalid", { detail: card.reason }),
      );
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
    if (claim.kind === "taken")
      return fail("card_used", "maybe", refusalOf({ ...entry, reason: "card_used" }));
    if (claim.kind === "released") throw unavailable("The entry changed meanwhile; try again");
    if (claim.kind !== "claimed") return fail("closed", "maybe", refusalOf({ ...entry, reason: "closed" }));
  }
  const asked = entry.auth === "maybe";
  const asking = await book.apply(entry.entryId, { type: "authorizing" });
  if (asking?.kind === "closed") return fail("closed", "maybe", refusalOf({ ...entry, reason: "closed" }));
  if (asking?.kind !== "ok") throw unavailable("The entry changed meanwhile; try again");
  return authorize(env, gateway, window, asking.entry, token, asked, fail);
}

async function authorize(
  env: Env,
  gateway: PaymentGateway,
  window: DrawWindow,
  entry: EntryRow,
  token: string,
  asked: boolean,
  fail: (reason: string, held: "none" | "maybe", refusal: AppError) => Promise<never>,
): Promise<EntryAnswer> {
  // An earlier attempt asked already: what the gateway holds now decides (a buyer who completed 3-D
  // Secure since has an authorization; asking again under the key would replay the first answer).
  if (asked) {
    const found = await gateway.lookupAuthorization(authorizationOf(entry)).catch(() => null);
    switch (found?.status) {
      case "authorized":
        return entered(env, window, entry, token, found.intentId ?? entry.intentId, found.expiresAt, fail);
      case "requires_action":
        return { status: 202, entry: viewOf(entry, window), entryToken: token, action: found.action };
      case "cancelled":
        return fail("declined", "none", refusalOf({ ...entry, reason: "declined" }));
      case "failed":
        // A payment that failed may still be completed by its holder (Stripe keeps the intent open to a
        // new card): it is cancelled with the attempt.
        return fail("declined", "maybe", refusalOf({ ...entry, reason: "declined" }));
      case "none":
        break;
      default:
        throw unavailable("The payment gateway did not answer; retry with the same Idempotency-Key");
    }
  }
  const outcome = await gateway.authorize(authorizationOf(entry)).catch((error: unknown) => ({
    status: "unknown" as const,
    reason: String(error),
  }));
  switch (outcome.status) {
    case "authorized":
      return entered(env, window, entry, token, outcome.intentId, outcome.expiresAt, fail);
    case "declined":
      return fail("declined", "none", refusalOf({ ...entry, reason: "declined" }));
    case "requires_action":
      return { status: 202, entry: viewOf(entry, window), entryToken: token, action: outcome.action };
    case "throttled":
      throw unavailable("The payment gateway is busy", Math.ceil(outcome.retryAfterMs / 1000));
    case "unknown":
      throw unavailable("The payment gateway did not answer; retry with the same Idempotency-Key");
  }
}

async function entered(
  env: Env,
  window: DrawWindow,
  entry: EntryRow,
  token: string,
  intentId: string | null,
  expiresAt: string,
  fail: (reason: string, held: "none" | "maybe", refusal: AppError) => Promise<never>,
): Promise<EntryAnswer> {
  // A hold that would lapse before the draw could capture it cannot stand for an entry.
  if (Date.parse(expiresAt) < window.closesAt + CAPTURE_MARGIN_MS) {
    return fail(
      "authorization_too_short",
      "maybe",
      refusalOf({ ...entry, reason: "authorization_too_short" }),
    );
  }
  const book = drawBook(env, window.product, shardOfEntry(entry.entryId) ?? 0);
  const answer = await book.apply(entry.entryId, {
    type: "authorized",
    intentId,
    expiresAt: Date.parse(expiresAt),
  });
  if (answer?.entry.state === "entered") {
    return { status: 201, entry: viewOf(answer.entry, window), entryToken: token, replayed: false };
  }
  // The entry left meanwhile (the close, another attempt of the customer's): its hold is owed a cancel.
  if (answer) await cancelNow(env, window, answer.entry);
  throw answer?.kind === "closed" || answer?.entry.reason === "closed"
    ? refusalOf({ ...entry, reason: "closed" })
    : answer?.entry.reason === "superseded"
      ? refusalOf({ ...entry, reason: "superseded" })
      : unavailable("The entry changed meanwhile; try again");
}
