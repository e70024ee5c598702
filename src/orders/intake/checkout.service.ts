import { type PricedSku, priceSkus } from "../../catalog/catalog.service";
import { admittedPass } from "../../drops/waiting-room";
import { isJsonMediaType, MAX_BODY_BYTES } from "../../http/body";
import { parseIdempotencyKey } from "../../http/idempotency-key";
import { REQUEST_ID_HEADER, requestIdOf } from "../../http/request-id";
import type { Scope } from "../../http/scope";
import { customerAllowanceLines, type LimitLine, passLine } from "../../inventory/allowances";
import {
  type CartLine,
  knownSoldOut,
  mergeLines,
  type PlannedLine,
  planCart,
  rememberShortage,
  remembersAnySoldOut,
  remembersSoldOut,
} from "../../inventory/inventory.holds";
import { pricingLine, type Quote, quoteCart } from "../../pricing/pricing.quote";
import { paymentMode, settings } from "../../shared/config";
import { AppError, type Problem, problemResponse } from "../../shared/errors";
import type { IntakeAnswer, KeyAnswer, StoredResponse } from "../protocol";
import { orderShard, shardsOfKey } from "../shards";
import { shortage, storedProblem } from "./answers";
import { chargeMinimumRefusal } from "./charge-minimum";
import { CheckoutRequest } from "./checkout.schemas";
import { dropRefusal } from "./drop-rules";
import { knownExhausted, rememberExhausted } from "./exhausted-codes";
import { fingerprint, inUse, keyHashOf, mismatch } from "./idempotency";
import { customerLimits } from "./limits";
import { checkoutRefusedByLimiter } from "./rate-limit";
import { intakeUnreachable, keyStanding } from "./standings";

export type CheckoutResult = StoredResponse & { replayed: boolean; serverTiming?: string };

/** Times each stage of a checkout for the Server-Timing header: where a slow checkout spends it. */
function stageTimer() {
  const stages: string[] = [];
  return {
    async time<T>(name: string, work: () => Promise<T>): Promise<T> {
      const started = performance.now();
      try {
        return await work();
      } finally {
        stages.push(`${name};dur=${(performance.now() - started).toFixed(1)}`);
      }
    },
    add: (timing: string) => timing && stages.push(timing),
    header: () => stages.join(", "),
  };
}

type Priced = { line: CartLine; priced: PricedSku }[];
type Decided = { planned: PlannedLine[]; priced: Priced; quote: Quote };
type Timer = ReturnType<typeof stageTimer>;

/** Prices every line from the catalog; an unknown SKU or mixed currencies is the client's error. */
async function price(scope: Scope, request: CheckoutRequest, lines: CartLine[]): Promise<Priced | Problem> {
  const priced = await priceSkus(
    scope,
    lines.map((line) => line.sku),
  );
  const unknown = request.items.flatMap((item, index) =>
    priced.has(item.sku) ? [] : [{ path: `items.${index}.sku`, message: "Unknown SKU", in: "body" }],
  );
  if (unknown.length > 0) {
    return { code: "validation_failed", detail: "Some SKUs are not in the catalog", errors: unknown };
  }
  const currencies = new Set([...priced.values()].map((entry) => entry.price.currency));
  if (currencies.size > 1) {
    return {
      code: "validation_failed",
      detail: "All items of one checkout must be priced in one currency",
      errors: [{ path: "items", message: `Mixed currencies: ${[...currencies].join(", ")}`, in: "body" }],
    };
  }
  return lines.map((line) => ({ line, priced: priced.get(line.sku) as PricedSku }));
}

/**
 * What the edge decides alone: a cart whose SKUs this location knows are all sold out; the client's
 * rate limit; the catalog's prices (an unknown SKU never reaches an inventory object, so naming SKUs
 * cannot create objects) and a drop's rules (its start time, its limits per order); then any SKU
 * known to be short. Limits per customer are decided where the stock is: see customer-limits. A refusal here changes nothing, and is
 * given only to a key with no answer yet.
 */
async function decideAtEdge(
  scope: Scope,
  request: CheckoutRequest,
  lines: CartLine[],
  client: string,
  timer: Timer,
): Promise<{ refusal: Problem } | Decided> {
  const soldOut = knownSoldOut(lines);
  if (soldOut) return { refusal: shortage(soldOut) };
  const limited = await timer.time("limit", () => checkoutRefusedByLimiter(scope.env, client));
  if (limited) return { refusal: limited };
  const priced = await timer.time("price", () => price(scope, request, lines));
  if (!Array.isArray(priced)) return { refusal: priced };
  const ruled = dropRefusal(priced, Date.now()) ?? addressRefusal(scope, priced, request);
  if (ruled) return { refusal: ruled };
  const quote = await timer.time("quote", () => quoteCheckout(scope, request, priced));
  if ("refusal" in quote) return quote;
  const tooSmall = await chargeMinimumRefusal(quote, priced[0]?.priced.price.currency ?? "USD", async () => {
    const bare = await quoteCheckout(scope, request, priced, { withoutCode: true });
    return "refusal" in bare ? null : bare.total;
  });
  if (tooSmall) return { refusal: tooSmall };
  // A code this location saw used up a moment ago (at this cap) is refused without walking its buckets.
  const exhausted = await knownExhausted(scope, quote.uses);
  if (exhausted) return { refusal: exhausted };
  const plan = await timer.time("plan", () => planCart(scope, lines));
  if (!plan.ok) return { refusal: shortage(plan.short) };
  const admission = await admissionLines(scope.env, priced, request);
  if ("refusal" in admission) return admission;
  // The customer's allowances of limited SKUs and products, and a drop's pass, are held with the stock.
  // A discount code's use is held with them too: one of its cap, and the customer's allowance of it.
  const limits = [...customerLimits(priced), ...quote.limits];
  const allowances = await customerAllowanceLines(limits, request.customer.email);
  return { planned: [...plan.lines, ...allowances, ...admission.lines, ...quote.uses], priced, quote };
}

/** The cart's totals with the shop's pricing settings: shipping to its address, tax, a code. */
function quoteCheckout(scope: Scope, request: CheckoutRequest, priced: Priced, { withoutCode = false } = {}) {
  const address = request.shippingAddress;
  return quoteCart(scope, {
    lines: priced.map(({ line, priced: sku }) => pricingLine(sku, line.quantity)),
    currency: priced[0]?.priced.price.currency ?? "USD",
    place: address ? { country: address.country, region: address.region } : null,
    method: request.shipping?.method,
    discountCode: withoutCode ? undefined : request.discountCode,
    now: Date.now(),
  });
}

/**
 * A cart with something that ships needs somewhere to ship it, where the shop says so
 * (REQUIRE_SHIPPING_ADDRESS; the contract keeps the address optional, so clients written against it
 * keep working unless the shop turns this on). The storefront asks for it either way.
 */
function addressRefusal(scope: Scope, priced: Priced, request: CheckoutRequest): Problem | null {
  if (!settings(scope.env).requireShippingAddress) return null;
  const shipped = priced.filter(({ priced: sku }) => sku.requiresShipping);
  if (shipped.length === 0 || request.shippingAddress) return null;
  return {
    code: "validation_failed",
    detail: "This cart holds items that ship: send a shippingAddress",
    errors: [
      {
        path: "shippingAddress",
        message: `Required for ${shipped.map(({ line }) => line.sku).join(", ")}`,
        in: "body",
      },
    ],
  };
}

/**
 * A drop sold through a waiting room needs the buyer's admission pass: checked here (signature,
 * drop, customer, expiry), then held as a line of one, so a pass serves one order at a time.
 */
async function admissionLines(
  env: Env,
  priced: Priced,
  request: CheckoutRequest,
): Promise<{ refusal: Problem } | { lines: Awaited<ReturnType<typeof passLine>>[] }> {
  const rooms = new Map(
    priced.flatMap(({ priced: sku }) =>
      sku.waitingRoom ? [[sku.waitingRoom.productId, sku.waitingRoom]] : [],
    ),
  );
  const lines = [];
  for (const room of rooms.values()) {
    const checked = await admittedPass(env, room, request.admission?.pass, request.customer.email);
    if ("refusal" in checked) return checked;
    lines.push(await passLine(checked.pass.id, room.productId));
  }
  return { lines };
}

/**
 * Checkout, from the edge to the order intake; no D1 on the way. The edge decides what it can alone:
 * a sold-out cart, the client's rate limit, the prices. Whatever it would refuse, it first
 * asks the key's shard whether the key already holds an answer (a retry of a placed order gets its 202
 * back, whatever stock, prices or limits say now). Otherwise the shard claims the key, holds the
 * stock and records the order and its answer in one transaction, and the 202 goes back.
 */
export async function checkout(
  scope: Scope,
  key: string,
  request: CheckoutRequest,
  { requestId, client }: { requestId: string; client: string },
): Promise<CheckoutResult> {
  const payments = paymentMode(scope.env);
  if (!payments.ready) {
    throw new AppError("payments_not_configured", {
      // Why is in the log (at each isolate's first request) and on /health with the admin token.
      detail: "This shop cannot take payments right now; retry later",
      headers: { "Retry-After": "300" },
    });
  }
  const timer = stageTimer();
  const lines = mergeLines(request.items);
  const [keyHash, print] = await Promise.all([keyHashOf(key), fingerprint(request)]);
  const { shard: shardNo, earlier } = await shardsOfKey(scope.env, keyHash);
  const shard = orderShard(scope.env, shardNo);
  // While the shard secret changes, a key placed under the one before keeps its answer there.
  if (earlier !== null) {
    const before = await timer.time("key", async () =>
      orderShard(scope.env, earlier).refusalStanding(key, keyHash, print),
    );
    const known = await answerKnown(before);
    if (known) return known;
  }

  // A dependency the edge needs failing (the pricing settings, a code) is a 503, but not for a key
  // that holds its answer already: a retry of a placed order gets its 202 whatever fails meanwhile.
  const decided = await decideAtEdge(scope, request, lines, client, timer).catch(async (error: unknown) => {
    const known = await shard.refusalStanding(key, keyHash, print).catch(() => null);
    if (known && known.kind !== "fresh") return { known };
    throw error;
  });
  if ("known" in decided) {
    const answer = await answerKnown(decided.known);
    if (answer) return answer;
    throw new Error("unreachable key standing");
  }
  if ("refusal" in decided) {
    const known = await timer.time("key", () =>
      keyStanding(scope.env, shardNo, { key, keyHash, fingerprint: print }, shard),
    );
    return (
      (await answerKnown(known)) ?? { ...(await storedProblem(decided.refusal, requestId)), replayed: false }
    );
  }

  const { planned, priced, quote } = decided;
  const currency = priced[0]?.priced.price.currency ?? "USD";
  const items = priced.map(({ line, priced: sku }) => ({
    sku: line.sku,
    productId: sku.productId,
    title: sku.title,
    quantity: line.quantity,
    unitPrice: sku.price,
  }));
  const answer: IntakeAnswer = await timer.time("intake", async () =>
    shard.checkout({
      key,
      keyHash,
      fingerprint: print,
      shard: shardNo,
      requestId,
      lines: planned,
      items,
      total: { amount: quote.total, currency },
      pricing: quote.pricing,
      customer: request.customer,
      ...(request.shippingAddress ? { shippingAddress: request.shippingAddress } : {}),
      paymentToken: request.payment.token,
      ...cardLimitsOf([...customerLimits(priced), ...quote.limits]),
    }),
  );
  if (answer.kind === "unavailable") {
    throw new AppError("service_unavailable", {
      detail: `${answer.reason}. Retry with the same Idempotency-Key.`,
      headers: { "Retry-After": "1" },
    });
  }
  const known = await answerKnown(answer);
  if (known) return known;
  if (answer.kind !== "accepted" && answer.kind !== "refused") throw new Error("unreachable intake answer");
  if (answer.short) rememberShortage(scope, answer.short);
  if (answer.kind === "refused") rememberExhausted(scope, quote.uses, answer.response);
  timer.add(answer.timing);
  return { ...answer.response, replayed: false, serverTiming: timer.header() };
}

/**
 * The cart's limits per customer, which the payment also counts by the paying card (its fingerprint
 * is the gateway's to give, when the payment is attempted); none for a cart without such limits.
 */
function cardLimitsOf(cardLimits: LimitLine[]) {
  return cardLimits.length > 0 ? { cardLimits } : {};
}

/** A key the shard already knows: its stored answer, or the refusal the contract gives for it. */
async function answerKnown(known: KeyAnswer | IntakeAnswer): Promise<CheckoutResult | null> {
  if (known.kind === "replay") return { ...known.response, replayed: true };
  if (known.kind === "in_use") throw inUse(known.retryAfterMs);
  if (known.kind === "mismatch") throw mismatch();
  return null;
}

/**
 * The refusal of a checkout whose SKUs this isolate's memory alone says are all sold out, given before
 * routing: the body is read (only once this isolate knows some SKU is sold out) and, when the refusal
 * applies, the key's shard is asked first, exactly as `checkout` asks it before any refusal. Answers the
 * refusal, or the request to route (with the same bytes) when it does not apply.
 */
export async function earlySoldOutRefusal(
  request: Request,
  env: Env,
): Promise<{ response: Response } | { request: Request }> {
  if (!remembersAnySoldOut()) return { request };
  const length = Number(request.headers.get("Content-Length") ?? Number.NaN);
  if (!(length > 0 && length <= MAX_BODY_BYTES)) return { request };
  if (!isJsonMediaType(request.headers.get("Content-Type"))) return { request };
  let key: string;
  try {
    key = parseIdempotencyKey(request.headers.get("Idempotency-Key") ?? undefined);
  } catch {
    return { request };
  }
  const text = await request.text();
  const routed = () => ({ request: new Request(request, { body: text }) });
  const body = parsedCheckout(text);
  const lines = body ? mergeLines(body.items) : [];
  if (!body || !lines.every((line) => remembersSoldOut(line.sku))) return routed();
  const refusal = shortage(lines.map((line) => ({ sku: line.sku, requested: line.quantity, available: 0 })));
  const [keyHash, print] = await Promise.all([keyHashOf(key), fingerprint(body)]);
  const { shard, earlier } = await shardsOfKey(env, keyHash);
  // While the shard secret changes, the routed checkout asks both shards the key may be on.
  if (earlier !== null) return routed();
  const requestId = requestIdOf(request.headers);
  const headers = { [REQUEST_ID_HEADER]: requestId };
  let known: KeyAnswer;
  try {
    known = await keyStanding(env, shard, { key, keyHash, fingerprint: print });
  } catch {
    // The shard did not answer: no refusal can be given, and asking again by the routed way would
    // double a failing shard's load under a flood. The buyer retries with the same key.
    const failed = { ...intakeUnreachable, headers: { ...intakeUnreachable.headers, ...headers } };
    return { response: problemResponse(failed, requestId) };
  }
  // A key with an answer goes the routed way, which gives it (replay, in use, mismatch).
  if (known.kind !== "fresh") return routed();
  return { response: problemResponse({ ...refusal, headers }, requestId) };
}

/**
 * The body of a checkout whose every SKU this isolate remembers sold out, validated; else null. The
 * SKUs are looked at before the whole body is validated, so a cart that goes the routed way (and is
 * validated there) is not validated twice.
 */
function parsedCheckout(text: string): CheckoutRequest | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items) || items.length === 0) return null;
  for (const item of items) {
    const sku = (item as { sku?: unknown } | null)?.sku;
    if (typeof sku !== "string" || !remembersSoldOut(sku)) return null;
  }
  const parsed = CheckoutRequest.safeParse(body);
  return parsed.success ? parsed.data : null;
}
