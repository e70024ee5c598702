// The chaos scenario: buyers who behave as real clients do, while the nemesis (nemesis.mjs) breaks
// the runtime, D1, the payment gateway and the queues one fault after another; then the proof that
// every promise held: the common audit (audit.mjs) plus what only this scenario can check (no charge
// without an order, limits per customer held, every accepted order settled and how long after the
// last fault).
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { describeError } from "./failure.mjs";
import { describeFault, prng } from "./nemesis.mjs";
import { percentile } from "./stats.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** How a buyer retries: at most this many attempts, and never past this long after its first. */
const MAX_ATTEMPTS = 15;
const GIVE_UP_AFTER_MS = 90_000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_WAIT_SECONDS = 5;

/** The SKU limited per customer that part of the crowd buys, created fresh for the run. */
export async function setUpLimited(api, { stock, maxPerCustomer }) {
  const tag = Date.now().toString(36);
  const sku = `CHAOS-LIMITED-${tag.toUpperCase()}`;
  await api.call("POST", "/v1/admin/products", {
    slug: `chaos-limited-${tag}`,
    title: "Load test limited edition",
    description: "At most a few per customer",
    category: "footwear",
    images: ["https://img.example/limited.jpg"],
    variants: [
      {
        sku,
        title: "One size",
        price: { amount: 12_000, currency: "USD" },
        attributes: { size: "42" },
        maxPerCustomer,
      },
    ],
  });
  await api.call("PUT", `/v1/admin/inventory/${sku}`, { onHand: stock });
  return { sku, maxPerCustomer, stock };
}

/** What each arriving buyer wants, drawn from the seed (so a replay offers the same crowd). */
function buyerPlan(random, { flashSku, limited, limitedShare, customers, failingShare }) {
  const onLimited = random() < limitedShare;
  const customer = onLimited ? Math.floor(random() * customers) : null;
  const roll = random();
  let kind = "tok_ok";
  if (roll < failingShare / 2) kind = "tok_declined";
  else if (roll < (failingShare * 3) / 4) kind = "tok_flaky";
  else if (roll < failingShare) kind = "tok_timeout_after_charge";
  return {
    sku: onLimited ? limited.sku : flashSku,
    email: onLimited ? `chaos-customer-${customer}@example.com` : `chaos-${randomUUID()}@example.com`,
    // A limited buyer pays with their own card, so the limit per card applies as well as per email.
    token: onLimited ? `${kind}.card_chaos${customer}` : kind,
  };
}

/**
 * One buyer: checks out under one Idempotency-Key and, as a real client does, tries again with the
 * same key after a network error, a timeout, a 5xx or a 429 (after Retry-After, at most 5 s), and
 * while its key is still in flight (409 idempotency_key_in_use); stops at 202 (accepted) or any other
 * refusal (409 sold out or over a limit, 422). Bounded: MAX_ATTEMPTS, GIVE_UP_AFTER_MS.
 */
async function buy(target, plan, tally) {
  const key = randomUUID();
  const ip = `10.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}`;
  const started = Date.now();
  const body = JSON.stringify({
    items: [{ sku: plan.sku, quantity: 1 }],
    customer: { email: plan.email },
    payment: { token: plan.token },
  });
  for (let attempt = 1; ; attempt++) {
    let wait = Math.min(MAX_WAIT_SECONDS, 0.25 * 2 ** attempt) * (0.5 + Math.random() / 2);
    const sent = performance.now();
    try {
      const response = await fetch(`${target}/v1/checkout`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key, "CF-Connecting-IP": ip },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      tally.latencies.push(performance.now() - sent);
      tally.status[response.status] = (tally.status[response.status] ?? 0) + 1;
      let answer = {};
      try {
        answer = JSON.parse(text);
      } catch {
        // a body that is not JSON: judged by its status alone
      }
      if (response.status === 202) {
        tally.accepted.push({ orderId: answer.orderId, sku: plan.sku, email: plan.email, attempts: attempt });
        return;
      }
      const retryAfter = Number(response.headers.get("retry-after"));
      if (Number.isFinite(retryAfter) && retryAfter > 0) wait = Math.min(retryAfter, MAX_WAIT_SECONDS);
      const retryable =
        response.status === 429 ||
        response.status >= 500 ||
        (response.status === 409 && answer.code === "idempotency_key_in_use");
      if (!retryable) {
        const code = answer.code ?? String(response.status);
        tally.refused[code] = (tally.refused[code] ?? 0) + 1;
        return;
      }
      if (response.status === 500) tally.internalErrors.push(String(answer.detail ?? text).slice(0, 200));
    } catch (error) {
      tally.networkErrors++;
      const reason =
        error?.name === "TimeoutError" ? "timeout" : (describeError(error).split(" [")[0] ?? "?");
      tally.networkReasons[reason] = (tally.networkReasons[reason] ?? 0) + 1;
    }
    tally.retries++;
    if (attempt >= MAX_ATTEMPTS || Date.now() + wait * 1000 - started > GIVE_UP_AFTER_MS) {
      tally.gaveUp++;
      return;
    }
    await sleep(wait * 1000);
  }
}

/**
 * The crowd: `rate` new buyers a second for `seconds`, each on its own; answers when the last buyer
 * has stopped, with what they saw.
 */
export async function runBuyers({ target, seed, rate, seconds, flashSku, limited, crowd, log }) {
  const random = prng((seed ^ 0x5bd1e995) >>> 0);
  const tally = {
    latencies: [],
    status: {},
    refused: {},
    accepted: [],
    networkErrors: 0,
    networkReasons: {},
    internalErrors: [],
    retries: 0,
    gaveUp: 0,
    buyers: 0,
  };
  const buyers = [];
  const started = Date.now();
  const total = Math.round(rate * seconds);
  let lastLog = started;
  for (let i = 0; i < total; i++) {
    await sleep(started + (i * 1000) / rate - Date.now());
    const plan = buyerPlan(random, { flashSku, limited, ...crowd });
    tally.buyers++;
    buyers.push(buy(target, plan, tally));
    if (Date.now() - lastLog >= 10_000) {
      lastLog = Date.now();
      log(
        `buyers: ${tally.buyers} arrived, ${tally.accepted.length} accepted, ${tally.networkErrors} network errors, ` +
          `${tally.retries} retries so far`,
      );
    }
  }
  const arrivedIn = (Date.now() - started) / 1000;
  await Promise.all(buyers);
  const endedAt = Date.now();
  return { tally, arrivedIn, endedAt, seconds: (endedAt - started) / 1000 };
}

/** The crowd's figures as one step of the report's table. */
export function buyersStep({ tally, seconds }, rate, plannedSeconds) {
  const sorted = tally.latencies;
  const requests = tally.latencies.length + tally.networkErrors;
  const count = (predicate) =>
    Object.entries(tally.status).reduce((n, [code, v]) => n + (predicate(Number(code)) ? v : 0), 0);
  const soldOut = tally.refused.insufficient_stock ?? 0;
  const mix = {
    ok: count((c) => c >= 200 && c < 400),
    soldOut,
    rateLimited: tally.status[429] ?? 0,
    clientErrors: count((c) => c >= 400 && c < 500 && c !== 429) - soldOut,
    serverErrors: count((c) => c >= 500),
    networkErrors: tally.networkErrors,
  };
  return {
    name: "chaos",
    offered: rate,
    usersCreated: tally.buyers,
    requests,
    achievedRps: Math.round(requests / seconds),
    p50Ms: Math.round(percentile(sorted, 50) ?? 0),
    p95Ms: Math.round(percentile(sorted, 95) ?? 0),
    p99Ms: Math.round(percentile(sorted, 99) ?? 0),
    mix,
    errorRate: requests ? (mix.serverErrors + mix.networkErrors) / requests : 0,
    generatorSaturated: tally.buyers < rate * plannedSeconds * 0.95,
  };
}

async function retrying(what, action, attempts = 5) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= attempts) throw new Error(`${what} failed ${attempts} times: ${describeError(error)}`);
      await sleep(500 * attempt);
    }
  }
}

/**
 * Plays the schedule against the running sale, one fault after another, each at its time from
 * `startedAt`: answers what was done (each fault with when it really began and ended, and how long a
 * restart took) and when the last fault ended. A fault that cannot be injected is a harness failure.
 */
export async function playNemesis({ schedule, startedAt, local, api, log }) {
  const played = [];
  let lastFaultEndedAt = startedAt;
  for (const fault of schedule) {
    await sleep(startedAt + fault.atSeconds * 1000 - Date.now());
    const began = Date.now();
    const entry = { ...fault, beganAtSeconds: (began - startedAt) / 1000 };
    log(`nemesis: ${describeFault(fault)}`);
    if (fault.kind === "kill") {
      await local.crash();
      entry.restartSeconds = (Date.now() - began) / 1000;
      log(`nemesis: the runtime is back on the same state after ${entry.restartSeconds.toFixed(1)} s`);
    } else if (fault.kind === "d1-lock") {
      const release = await retrying("locking D1", async () => local.lockD1());
      entry.injectedAfterMs = Date.now() - began;
      await sleep(began + fault.forSeconds * 1000 - Date.now());
      release();
    } else if (fault.kind.startsWith("gateway-")) {
      const mode = fault.kind.slice("gateway-".length);
      await retrying("breaking the gateway", () =>
        api.call("PUT", "/v1/admin/faults", {
          gateway: { mode, seconds: fault.forSeconds, delayMs: fault.delayMs ?? 0 },
        }),
      );
      entry.injectedAfterMs = Date.now() - began;
      // The fault ends by itself; a call to end it could arrive after the next fault began.
      await sleep(fault.forSeconds * 1000 + 100);
    } else if (fault.kind.startsWith("queue-")) {
      const mode = fault.kind.slice("queue-".length);
      await retrying("breaking the queues", () =>
        api.call("PUT", "/v1/admin/faults", {
          queue: { mode, seconds: fault.forSeconds, delaySeconds: fault.delaySeconds ?? 5 },
        }),
      );
      entry.injectedAfterMs = Date.now() - began;
      await sleep(fault.forSeconds * 1000 + 100);
    } else {
      throw new Error(`the nemesis knows no fault ${fault.kind}`);
    }
    if ((entry.injectedAfterMs ?? 0) > 1000) {
      log(
        `nemesis: ${fault.kind} took ${(entry.injectedAfterMs / 1000).toFixed(1)} s to inject (a busy runtime)`,
      );
    }
    lastFaultEndedAt = Date.now();
    entry.endedAtSeconds = (lastFaultEndedAt - startedAt) / 1000;
    played.push(entry);
  }
  // Every fault has ended by itself by now; this only makes sure of it.
  await retrying("ending every fault", () => api.call("DELETE", "/v1/admin/faults"));
  return { played, lastFaultEndedAt };
}

/**
 * What only this scenario checks, beside the common audit: no charge the gateway made is left
 * without its order (`charged_without_order`); no customer bought or holds more of the limited SKU
 * than its limit (`over_limit`); every accepted order is one the shop knows (`unknown_accepted`).
 */
export async function auditChaos(api, { limited, accepted }) {
  const orders = await api.orders();
  const byId = new Map(orders.map((order) => [order.id, order]));
  const charges = await api.charges();
  const chargedWithoutOrder = charges.filter(
    (charge) => charge.status === "succeeded" && !byId.has(charge.orderId),
  ).length;
  const perCustomer = new Map();
  for (const order of orders) {
    if (order.status !== "paid" && order.status !== "pending_payment") continue;
    const units = order.items
      .filter((item) => item.sku === limited.sku)
      .reduce((n, item) => n + item.quantity, 0);
    if (units === 0) continue;
    const email = order.customer.email.toLowerCase();
    perCustomer.set(email, (perCustomer.get(email) ?? 0) + units);
  }
  const overLimit = [...perCustomer.values()].filter((units) => units > limited.maxPerCustomer).length;
  const unknownAccepted = accepted.filter((entry) => !byId.has(entry.orderId)).length;
  const statuses = {};
  const failureReasons = {};
  for (const entry of accepted) {
    const order = byId.get(entry.orderId);
    const status = order?.status ?? "unknown";
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (order?.failureReason) {
      // The reason's kind, without the ids and figures that make every one different.
      const reason = String(order.failureReason).split(/[:(]/)[0].trim().slice(0, 80);
      failureReasons[reason] = (failureReasons[reason] ?? 0) + 1;
    }
  }
  return {
    charged_without_order: chargedWithoutOrder,
    over_limit: overLimit,
    unknown_accepted: unknownAccepted,
    limitedCustomers: perCustomer.size,
    limitedUnitsSold: [...perCustomer.values()].reduce((a, b) => a + b, 0),
    acceptedByStatus: statuses,
    failureReasons,
    // The simulator's listing holds its newest 1,000 charges: more and the check above is partial.
    chargesComplete: charges.length < 1000,
    passed: chargedWithoutOrder === 0 && overLimit === 0 && unknownAccepted === 0 && charges.length < 1000,
  };
}

export function chaosAuditLine(chaos) {
  const settle = chaos.settledSeconds === null ? "never" : `${chaos.settledSeconds.toFixed(1)} s`;
  return (
    `chaos: seed=${chaos.seed} faults=${chaos.faults.length} ` +
    `charged_without_order=${chaos.audit.charged_without_order} over_limit=${chaos.audit.over_limit} ` +
    `unknown_accepted=${chaos.audit.unknown_accepted} ` +
    `accepted=${chaos.buyers.accepted} paid=${chaos.audit.acceptedByStatus.paid ?? 0} ` +
    `failed=${(chaos.audit.acceptedByStatus.payment_failed ?? 0) + (chaos.audit.acceptedByStatus.cancelled ?? 0)} ` +
    `settled ${settle} after the last fault`
  );
}
