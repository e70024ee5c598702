// A local fake of the Stripe HTTP API, for tests without network: the official SDK in the worker is
// pointed at it (STRIPE_API_BASE -> host/port/protocol). It keeps PaymentIntents, charges and
// refunds in memory, honours Idempotency-Key as Stripe does (same key, same answer), and answers
// with Stripe's shapes and error types. What the buyer or the shop's dashboard would do elsewhere
// (pass or fail 3-D Secure, settle a processing payment, refund, a burst of 429s) is driven through
// `/_fake/...` routes. ConfirmationTokens and PaymentMethods can be read, each test card with a
// fingerprint of its own (a hash of its name, or of the card a minted token names), as Stripe gives
// one per card number. A charge gets a copy of its intent's metadata when it is made, never updated
// after. Holds (`capture_method=manual`) are confirmed to `requires_capture` with the charge's
// `capture_before` 7 days on, then captured (its `metadata` merged into the intent's) or cancelled
// (the uncaptured charge refunded) as Stripe does: capture only from
// `requires_capture`, cancel never once succeeded or cancelled (400 `payment_intent_unexpected_state`);
// `/_fake/payment_intents/:id/expire` lapses a hold as Stripe does after its window (cancelled,
// `automatic`). A key reused with other parameters is refused (400 `idempotency_error`), as Stripe does.
import { createHash } from "node:crypto";
import { createServer } from "node:http";

/** How each test PaymentMethod behaves when confirmed (Stripe's own test ids where they exist). */
const METHODS = {
  pm_card_visa: "succeeds",
  pm_card_threeDSecure2Required: "requires_action",
  pm_card_chargeDeclined: "declined",
  pm_card_processing: "processing",
  // Not one of Stripe's test cards: its hold is placed, and declined when captured.
  pm_card_captureDeclined: "capture_declined",
};

/** How long Stripe keeps an online card hold (customer-initiated, card not present). */
const HOLD_SECONDS = 7 * 24 * 60 * 60;

/** Stripe-like: 16 characters, the same for every token of one card. */
const fingerprintOf = (card) =>
  createHash("sha256").update(`fake card|${card}`).digest("base64url").slice(0, 16);

/** A test card's PaymentMethod, as `GET /v1/payment_methods/:id` shows it. */
function paymentMethod(id, card = id) {
  return {
    id,
    object: "payment_method",
    type: "card",
    card: { brand: "visa", last4: "4242", exp_month: 12, exp_year: 2034, fingerprint: fingerprintOf(card) },
  };
}

/** Stripe's form encoding, `a[b][0]=c`, into nested objects (enough for the calls the SDK makes). */
function decode(text) {
  const out = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const path = key.split(/\[|\]\[|\]/).filter(Boolean);
    let node = out;
    path.forEach((part, i) => {
      if (i === path.length - 1) node[part] = value;
      else node = node[part] ??= {};
    });
  }
  return out;
}

export async function startFakeStripe() {
  let seq = 0;
  const id = (prefix) => `${prefix}_fake${(++seq).toString().padStart(8, "0")}`;
  const intents = new Map();
  const charges = new Map();
  const idempotent = new Map();
  const counts = {
    requests: 0,
    throttled: 0,
    confirms: 0,
    creates: 0,
    cancels: 0,
    captures: 0,
    refunds: 0,
    reads: 0,
  };
  let throttleNext = 0;
  /** ConfirmationTokens made through the side door: the test card each pays with, and its card. */
  const tokens = new Map();

  function behaviourOf(intent) {
    const token = intent.confirmation_token;
    const method =
      intent.payment_method ?? tokens.get(token)?.paymentMethod ?? token?.replace(/^ctoken_/, "pm_") ?? "";
    return METHODS[method] ?? "declined";
  }

  /** A ConfirmationToken as Stripe shows it: the PaymentMethod it will create, previewed. */
  function confirmationToken(tokenId) {
    const minted = tokens.get(tokenId);
    const method = minted?.paymentMethod ?? tokenId.replace(/^ctoken_/, "pm_");
    if (!minted && !METHODS[method]) return null;
    const preview =
      minted?.type && minted.type !== "card"
        ? { type: minted.type, [minted.type]: {} }
        : { type: "card", card: paymentMethod(method, minted?.card ?? method).card };
    return { id: tokenId, object: "confirmation_token", payment_method_preview: preview };
  }

  const error = (status, type, code, message, extra = {}) => ({
    status,
    body: { error: { type, code, message, ...extra } },
  });

  function view(intent, expand = []) {
    const charge = intent.latest_charge ? charges.get(intent.latest_charge) : null;
    return { ...intent, latest_charge: expand.includes("latest_charge") ? charge : (charge?.id ?? null) };
  }

  /** The payment is authorized: captured at once, or held until captured (`capture_method=manual`). */
  function charge(intent) {
    const held = intent.capture_method === "manual";
    const made = {
      id: id("ch"),
      object: "charge",
      amount: intent.amount,
      amount_captured: held ? 0 : intent.amount,
      amount_refunded: 0,
      captured: !held,
      currency: intent.currency,
      payment_intent: intent.id,
      payment_method_details: {
        type: "card",
        card: held ? { capture_before: Math.floor(Date.now() / 1000) + HOLD_SECONDS } : {},
      },
      refunded: false,
      status: "succeeded",
      // Stripe copies the intent's metadata to the charge it creates, once: a later change of the
      // intent's metadata (at capture, say) is not carried over.
      metadata: { ...intent.metadata },
    };
    charges.set(made.id, made);
    intent.latest_charge = made.id;
    intent.status = held ? "requires_capture" : "succeeded";
    intent.amount_capturable = held ? intent.amount : 0;
    intent.amount_received = held ? 0 : intent.amount;
    intent.next_action = null;
  }

  /** Cancelling a hold releases it: Stripe refunds what was capturable on its charge. */
  function release(intent, reason) {
    const held = intent.latest_charge ? charges.get(intent.latest_charge) : null;
    if (intent.status === "requires_capture" && held) {
      held.amount_refunded = held.amount;
      held.refunded = true;
    }
    intent.status = "canceled";
    intent.amount_capturable = 0;
    intent.next_action = null;
    intent.cancellation_reason = reason;
    intent.canceled_at = Math.floor(Date.now() / 1000);
  }

  const unexpectedState = (intent, verb, allowed) =>
    error(
      400,
      "invalid_request_error",
      "payment_intent_unexpected_state",
      `This PaymentIntent could not be ${verb} because it has a status of ${intent.status}. ` +
        `Only a PaymentIntent with one of the following statuses may be ${verb}: ${allowed}.`,
      { payment_intent: view(intent) },
    );

  function refund(intent, amount, expandCharge = false) {
    const made = intent.latest_charge ? charges.get(intent.latest_charge) : null;
    if (!made) return error(400, "invalid_request_error", "charge_not_found", "Nothing to refund");
    const left = made.amount - made.amount_refunded;
    if (left === 0) {
      return error(
        400,
        "invalid_request_error",
        "charge_already_refunded",
        "Charge has already been refunded.",
      );
    }
    const refunding = amount ?? left;
    if (refunding > left) {
      return error(
        400,
        "invalid_request_error",
        "amount_too_large",
        `Refund amount (${refunding}) is greater than unrefunded amount on charge (${left})`,
      );
    }
    made.amount_refunded += refunding;
    made.refunded = made.amount_refunded >= made.amount;
    counts.refunds++;
    return {
      status: 200,
      body: {
        id: id("re"),
        object: "refund",
        amount: refunding,
        charge: expandCharge ? { ...made } : made.id,
        status: "succeeded",
      },
    };
  }

  function api(method, path, params) {
    let match = path === "/v1/payment_intents" && method === "POST";
    if (match) {
      counts.creates++;
      const intent = {
        id: id("pi"),
        object: "payment_intent",
        amount: Number(params.amount),
        currency: params.currency,
        status: params.payment_method ? "requires_confirmation" : "requires_payment_method",
        capture_method: params.capture_method ?? "automatic",
        amount_capturable: 0,
        amount_received: 0,
        created: Math.floor(Date.now() / 1000),
        cancellation_reason: null,
        canceled_at: null,
        payment_method: params.payment_method ?? null,
        confirmation_token: null,
        metadata: params.metadata ?? {},
        latest_charge: null,
        next_action: null,
        last_payment_error: null,
      };
      intent.client_secret = `${intent.id}_secret_${Math.random().toString(36).slice(2, 12)}`;
      intents.set(intent.id, intent);
      return { status: 200, body: view(intent) };
    }
    match = /^\/v1\/payment_intents\/([^/]+)(\/confirm|\/cancel|\/capture)?$/.exec(path);
    const expand = Object.values(params.expand ?? {});
    const intent = match ? intents.get(match[1]) : null;
    if (match && !intent)
      return error(404, "invalid_request_error", "resource_missing", "No such payment_intent");
    if (match && method === "GET") return { status: 200, body: view(intent, expand) };
    if (match?.[2] === "/confirm") {
      counts.confirms++;
      if (params.confirmation_token) intent.confirmation_token = params.confirmation_token;
      if (intent.status === "succeeded" || intent.status === "canceled") {
        return error(400, "invalid_request_error", "payment_intent_unexpected_state", "Already final");
      }
      switch (behaviourOf(intent)) {
        case "succeeds":
        case "capture_declined":
          charge(intent);
          break;
        case "requires_action":
          intent.status = "requires_action";
          intent.next_action = { type: "use_stripe_sdk", use_stripe_sdk: {} };
          break;
        case "processing":
          intent.status = "processing";
          break;
        default:
          intent.status = "requires_payment_method";
          intent.last_payment_error = { code: "card_declined", decline_code: "generic_decline" };
          return error(402, "card_error", "card_declined", "Your card was declined.", {
            decline_code: "generic_decline",
            payment_intent: view(intent),
          });
      }
      return { status: 200, body: view(intent, expand) };
    }
    if (match?.[2] === "/cancel") {
      counts.cancels++;
      if (["succeeded", "processing", "canceled"].includes(intent.status)) {
        return unexpectedState(
          intent,
          "canceled",
          "requires_payment_method, requires_capture, requires_confirmation, requires_action",
        );
      }
      release(intent, params.cancellation_reason ?? null);
      return { status: 200, body: view(intent, expand) };
    }
    if (match?.[2] === "/capture") {
      counts.captures++;
      if (intent.status !== "requires_capture")
        return unexpectedState(intent, "captured", "requires_capture");
      const held = charges.get(intent.latest_charge);
      if (behaviourOf(intent) === "capture_declined") {
        held.status = "failed";
        intent.status = "requires_payment_method";
        intent.amount_capturable = 0;
        intent.last_payment_error = { code: "card_declined", decline_code: "generic_decline" };
        return error(402, "card_error", "card_declined", "Your card was declined.", {
          decline_code: "generic_decline",
          payment_intent: view(intent),
        });
      }
      // The capture's metadata is merged into the intent's, as an update is (an empty value unsets a key).
      for (const [key, value] of Object.entries(params.metadata ?? {})) {
        if (value === "") delete intent.metadata[key];
        else intent.metadata[key] = value;
      }
      held.captured = true;
      held.amount_captured = held.amount;
      intent.status = "succeeded";
      intent.amount_received = intent.amount;
      intent.amount_capturable = 0;
      return { status: 200, body: view(intent, expand) };
    }
    match = /^\/v1\/(confirmation_tokens|payment_methods)\/([^/]+)$/.exec(path);
    if (match && method === "GET") {
      counts.reads++;
      const found =
        match[1] === "confirmation_tokens"
          ? confirmationToken(match[2])
          : METHODS[match[2]]
            ? paymentMethod(match[2])
            : null;
      if (!found) return error(404, "invalid_request_error", "resource_missing", `No such ${match[1]}`);
      return { status: 200, body: found };
    }
    if (path === "/v1/refunds" && method === "POST") {
      const refunded = intents.get(params.payment_intent);
      if (!refunded) return error(404, "invalid_request_error", "resource_missing", "No such payment_intent");
      const expand = Object.values(params.expand ?? {});
      return refund(refunded, params.amount ? Number(params.amount) : undefined, expand.includes("charge"));
    }
    return error(404, "invalid_request_error", "unknown_route", `No route ${method} ${path}`);
  }

  /** What happens outside the API: the buyer, Stripe's own processing, the shop's dashboard. */
  function control(path, params) {
    if (path === "/_fake/stats") return { status: 200, body: counts };
    if (path === "/_fake/confirmation_tokens") {
      // What Stripe.js makes from the card the buyer typed: `card` names the card (its fingerprint),
      // `payment_method` the test card whose behaviour it has, `type` another method than a card.
      const tokenId = id("ctoken");
      tokens.set(tokenId, {
        paymentMethod: params.payment_method ?? "pm_card_visa",
        card: params.card ?? null,
        type: params.type ?? "card",
      });
      return { status: 200, body: confirmationToken(tokenId) };
    }
    if (path === "/_fake/payment_intents" && params.order_id) {
      const found = [...intents.values()].filter((intent) => intent.metadata.order_id === params.order_id);
      return { status: 200, body: { data: found.map((intent) => view(intent)) } };
    }
    if (path === "/_fake/throttle") {
      throttleNext = Number(params.count ?? 0);
      return { status: 200, body: { throttleNext } };
    }
    const match = /^\/_fake\/payment_intents\/([^/]+)(\/authenticate|\/settle|\/refund|\/expire)?$/.exec(
      path,
    );
    const intent = match ? intents.get(match[1]) : null;
    if (!intent) return { status: 404, body: { error: "no such intent" } };
    if (!match[2]) return { status: 200, body: view(intent, ["latest_charge"]) };
    if (match[2] === "/authenticate") {
      if (intent.status !== "requires_action") return { status: 409, body: view(intent) };
      if (params.result === "pass") charge(intent);
      else {
        intent.status = "requires_payment_method";
        intent.next_action = null;
        intent.last_payment_error = { code: "payment_intent_authentication_failure" };
      }
      return { status: 200, body: view(intent, ["latest_charge"]) };
    }
    if (match[2] === "/expire") {
      // The hold's window passed uncaptured: Stripe cancels it itself.
      if (intent.status !== "requires_capture") return { status: 409, body: view(intent) };
      release(intent, "automatic");
      return { status: 200, body: view(intent, ["latest_charge"]) };
    }
    if (match[2] === "/settle") {
      if (intent.status !== "processing") return { status: 409, body: view(intent) };
      charge(intent);
      return { status: 200, body: view(intent, ["latest_charge"]) };
    }
    const refunded = refund(intent, params.amount ? Number(params.amount) : undefined);
    return refunded.status === 200 ? { status: 200, body: view(intent, ["latest_charge"]) } : refunded;
  }

  const server = createServer(async (request, response) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const url = new URL(request.url ?? "/", "http://fake");
    const text = Buffer.concat(chunks).toString();
    const fromJson = request.headers["content-type"]?.includes("json");
    const params =
      request.method === "GET"
        ? decode(url.search.slice(1))
        : fromJson
          ? JSON.parse(text || "{}")
          : decode(text);
    let answer;
    if (url.pathname.startsWith("/_fake/")) answer = control(url.pathname, params);
    else {
      counts.requests++;
      const key = request.headers["idempotency-key"];
      if (throttleNext > 0) {
        throttleNext--;
        counts.throttled++;
        answer = error(429, "rate_limit_error", "rate_limit", "Too many requests");
      } else if (key && idempotent.has(key)) {
        const first = idempotent.get(key);
        answer =
          first.request === `${request.method} ${url.pathname} ${text}`
            ? first.answer
            : error(
                400,
                "idempotency_error",
                undefined,
                `Keys for idempotent requests can only be used with the same parameters they were first used with.`,
              );
      } else {
        answer = api(request.method, url.pathname, params);
        // Stripe keeps the answer (a 400 included) for the key, with the request it answered.
        if (key && request.method === "POST") {
          idempotent.set(key, { request: `${request.method} ${url.pathname} ${text}`, answer });
        }
      }
    }
    response.writeHead(answer.status, { "Content-Type": "application/json", "Request-Id": id("req") });
    response.end(JSON.stringify(answer.body));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  server.unref();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}
