import { type PricedSku, priceSkus } from "../catalog/catalog.service";
import { type Database, database, statement } from "../db/client";
import { orderItems, orders, paymentOutbox } from "../db/schema";
import { AppError, type Problem, problemResponse } from "../errors";
import { REQUEST_ID_HEADER } from "../http/request-id";
import { ulid } from "../ids";
import {
  type CartLine,
  knownShortage,
  mergeLines,
  releaseHolds,
  remembersSoldOut,
  reserveCart,
  type ShortSku,
  type SkuHold,
} from "../inventory/inventory.holds";
import { findOrder, markSent } from "../orders/orders.storage";
import { base64url, sha256Hex } from "../shared/crypto";
import { background, type Scope } from "../shared/scope";
import type { CheckoutAccepted, CheckoutRequest } from "./checkout.schemas";
import {
  abandon,
  type Claim,
  claim,
  completion,
  fingerprint,
  type StoredResponse,
  storedResponse,
} from "./idempotency";
import { spendCheckoutBudget } from "./rate-limit";

type Owner = Extract<Claim, { kind: "owner" }>;
export type CheckoutResult = StoredResponse & { replayed: boolean; serverTiming?: string };

/** Times each stage of a checkout for the Server-Timing header: where a slow checkout spends it. */
function stageTimer() {
  const stages: string[] = [];
  return {
    async time<T>(name: string, work: Promise<T>): Promise<T> {
      const started = performance.now();
      try {
        return await work;
      } finally {
        stages.push(`${name};dur=${(performance.now() - started).toFixed(1)}`);
      }
    },
    header: () => stages.join(", "),
  };
}

/** An order token: 256 random bits, base64url. Only its SHA-256 is stored. */
async function newOrderToken(): Promise<{ token: string; hash: string }> {
  const token = base64url(crypto.getRandomValues(new Uint8Array(32)));
  return { token, hash: await sha256Hex(token) };
}

/** Prices every line from the catalog; an unknown SKU or mixed currencies is the client's error. */
async function price(scope: Scope, request: CheckoutRequest, lines: CartLine[]) {
  const priced = await priceSkus(
    scope,
    lines.map((line) => line.sku),
  );
  const unknown = request.items.flatMap((item, index) =>
    priced.has(item.sku) ? [] : [{ path: `items.${index}.sku`, message: "Unknown SKU", in: "body" }],
  );
  if (unknown.length > 0) {
    throw new AppError("validation_failed", { detail: "Some SKUs are not in the catalog", errors: unknown });
  }
  const currencies = new Set([...priced.values()].map((entry) => entry.price.currency));
  if (currencies.size > 1) {
    throw new AppError("validation_failed", {
      detail: "All items of one checkout must be priced in one currency",
      errors: [{ path: "items", message: `Mixed currencies: ${[...currencies].join(", ")}`, in: "body" }],
    });
  }
  return lines.map((line) => ({ line, priced: priced.get(line.sku) as PricedSku }));
}

/**
 * Checkout: validate and price, claim the Idempotency-Key, hold the stock, record the order with its
 * items, its payment outbox row and the idempotent response in one D1 batch, then queue the payment
 * and answer 202. Whatever fails before the batch lands gives the holds and the key back.
 */
export async function checkout(
  scope: Scope,
  key: string,
  request: CheckoutRequest,
  { requestId, client }: { requestId: string; client: string },
): Promise<CheckoutResult> {
  const lines = mergeLines(request.items);
  const timer = stageTimer();
  // Late buyers of a sold-out SKU are answered here, before any D1 read or write. Such a refusal is
  // not stored against the key: a retry while the SKU is still sold out is refused the same way.
  const known = await knownShortage(scope, lines);
  if (known) return { ...(await storedFrom(problemResponse(shortage(known), requestId))), replayed: false };
  await timer.time("limit", spendCheckoutBudget(scope.env, client));
  const pricedLines = await timer.time("price", price(scope, request, lines));
  const db = database(scope.env.DB);
  const claimed = await timer.time(
    "claim",
    fingerprint(request).then((print) => claim(db, key, print, ulid())),
  );
  if (claimed.kind === "replay") return { ...claimed.response, replayed: true };

  let reservation: Awaited<ReturnType<typeof reserveCart>>;
  try {
    reservation = await timer.time("reserve", reserveCart(scope, claimed.orderId, lines));
  } catch (error) {
    await abandon(db, claimed);
    throw error;
  }

  if (!reservation.ok) {
    const response = await storedFrom(problemResponse(shortage(reservation.short), requestId));
    await (await completion(db, claimed, response)).run();
    return { ...response, replayed: false };
  }

  try {
    const response = await timer.time(
      "record",
      recordOrder(db, claimed, request, pricedLines, reservation.holds, reservation.expiresAt),
    );
    const orderId = claimed.orderId;
    background(
      scope,
      "payment enqueue",
      scope.env.PAYMENTS.send({ orderId }).then(() => markSent(db, orderId)),
    );
    return { ...response, replayed: false, serverTiming: timer.header() };
  } catch (error) {
    // A request that took over a stalled claim can lose the race to record the same order id to
    // the request it took over from. That order is real: its holds stay and its response replays.
    if (await findOrder(db, claimed.orderId)) {
      const stored = await storedResponse(db, claimed);
      if (stored) return { ...stored, replayed: true };
      throw new AppError("service_unavailable", { headers: { "Retry-After": "1" }, cause: error });
    }
    await releaseHolds(scope.env, claimed.orderId, reservation.holds);
    await abandon(db, claimed);
    throw new AppError("service_unavailable", {
      detail: "The order could not be recorded; nothing was held or charged. Retry with the same key.",
      headers: { "Retry-After": "1" },
      cause: error,
    });
  }
}

/**
 * The sold-out refusal given before the router (see http/hot-paths): only when this isolate's memory
 * alone says every SKU of the cart is sold out, so it is the answer `checkout` would give.
 */
export function refusalIfKnownSoldOut(request: CheckoutRequest, requestId: string): Response | null {
  const lines = mergeLines(request.items);
  if (!lines.every((line) => remembersSoldOut(line.sku))) return null;
  return problemResponse(
    {
      ...shortage(lines.map((line) => ({ sku: line.sku, requested: line.quantity, available: 0 }))),
      headers: { [REQUEST_ID_HEADER]: requestId },
    },
    requestId,
  );
}

function shortage(short: ShortSku[]): Problem {
  return {
    code: "insufficient_stock",
    detail: "Some items do not have enough stock; nothing was held",
    extensions: { skus: short },
  };
}

async function storedFrom(response: Response): Promise<StoredResponse> {
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers),
    body: await response.text(),
  };
}

/** D1 binds at most 100 parameters a statement; an order item row takes 7. */
const ITEMS_PER_STATEMENT = 14;

async function recordOrder(
  db: Database,
  owner: Owner,
  request: CheckoutRequest,
  pricedLines: { line: CartLine; priced: PricedSku }[],
  holds: SkuHold[],
  holdExpiresAt: string,
): Promise<StoredResponse> {
  const orderId = owner.orderId;
  const currency = pricedLines[0]?.priced.price.currency ?? "USD";
  const total = pricedLines.reduce((sum, { line, priced }) => sum + line.quantity * priced.price.amount, 0);
  const { token, hash } = await newOrderToken();
  const now = new Date().toISOString();
  const items = pricedLines.map(({ line, priced }) => ({
    orderId,
    sku: line.sku,
    productId: priced.productId,
    title: priced.title,
    quantity: line.quantity,
    unitAmount: priced.price.amount,
    currency,
  }));
  const body: CheckoutAccepted = {
    orderId,
    orderToken: token,
    status: "pending_payment",
    total: { amount: total, currency },
    items: items.map((item) => ({
      sku: item.sku,
      quantity: item.quantity,
      unitPrice: { amount: item.unitAmount, currency },
      title: item.title,
    })),
    holdExpiresAt,
  };
  const response: StoredResponse = {
    status: 202,
    headers: { "Content-Type": "application/json", Location: `/v1/orders/${orderId}` },
    body: JSON.stringify(body),
  };
  const itemStatements = [];
  for (let start = 0; start < items.length; start += ITEMS_PER_STATEMENT) {
    itemStatements.push(
      statement(db.$client, db.insert(orderItems).values(items.slice(start, start + ITEMS_PER_STATEMENT))),
    );
  }
  await db.$client.batch([
    statement(
      db.$client,
      db.insert(orders).values({
        id: orderId,
        tokenHash: hash,
        email: request.customer.email,
        name: request.customer.name ?? null,
        shippingAddress: request.shippingAddress ?? null,
        currency,
        totalAmount: total,
        paymentToken: request.payment.token,
        holds,
        holdExpiresAt,
        createdAt: now,
        updatedAt: now,
      }),
    ),
    ...itemStatements,
    statement(db.$client, db.insert(paymentOutbox).values({ orderId, createdAt: Date.now() })),
    await completion(db, owner, response),
  ]);
  return response;
}
