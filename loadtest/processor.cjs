// Artillery processor: what a real storefront client does around each request. Loaded by
// Artillery (CommonJS); configured through environment variables set by loadtest/run.mjs.
const { appendFileSync, readFileSync } = require("node:fs");
const { randomUUID } = require("node:crypto");

const catalog = process.env.LOADTEST_CATALOG
  ? JSON.parse(readFileSync(process.env.LOADTEST_CATALOG, "utf8"))
  : { products: [] };
const acceptedFile = process.env.LOADTEST_ACCEPTED_FILE;
const MAX_ATTEMPTS = 4;
const MAX_WAIT_SECONDS = 5;

/** Zipf-like popularity: the product at rank r is picked with weight 1 / r. */
const weights = catalog.products.map((_, rank) => 1 / (rank + 1));
const totalWeight = weights.reduce((a, b) => a + b, 0);
function zipfPick() {
  let roll = Math.random() * totalWeight;
  for (let i = 0; i < weights.length; i++) {
    roll -= weights[i];
    if (roll <= 0) return catalog.products[i];
  }
  return catalog.products[0];
}

/** Each virtual user is one client: its own address (for per-client rate limits) and keys. */
function newClient(context, _events, done) {
  context.vars.clientIp = `10.${rand(256)}.${rand(256)}.${rand(256)}`;
  context.vars.idempotencyKey = randomUUID();
  context.vars.attempt = 0;
  // Artillery runs a loop body once before asking `whileTrue`, so only a buyer starts out "retrying".
  context.vars.buy = Math.random() < Number(process.env.LOADTEST_CONVERSION ?? 1);
  context.vars.retry = context.vars.buy;
  context.vars.paymentToken = pickToken();
  return done();
}

function rand(n) {
  return Math.floor(Math.random() * n);
}

/** Mostly good cards, with the share of failing payment tokens a sale day brings. */
function pickToken() {
  const roll = Math.random();
  const failing = Number(process.env.LOADTEST_FAILING_SHARE ?? 0);
  if (roll < failing / 2) return "tok_declined";
  if (roll < (failing * 3) / 4) return "tok_flaky";
  if (roll < failing) return "tok_timeout_after_charge";
  return "tok_ok";
}

function pickProduct(context, _events, done) {
  const product = zipfPick();
  context.vars.slug = product.slug;
  context.vars.sku = product.skus[rand(product.skus.length)];
  context.vars.category = product.category;
  return done();
}

/**
 * After a checkout answer: keep the order id of a 202 (the audit proves it settles), and decide
 * whether a real client would try again (429, 503, or its key still in flight), and after how long.
 */
function checkoutOutcome(_request, response, context, events, done) {
  context.vars.attempt += 1;
  const status = response.statusCode;
  if (status === 202 && acceptedFile) {
    try {
      appendFileSync(acceptedFile, `${JSON.parse(response.body).orderId}\n`);
    } catch {
      events.emit("counter", "loadtest.unparsable_202", 1);
    }
  }
  let retryable = status === 429 || status === 503 || status >= 500;
  if (status === 409) retryable = String(response.body).includes("idempotency_key_in_use");
  context.vars.retry = retryable && context.vars.attempt < MAX_ATTEMPTS;
  const header = Number(response.headers["retry-after"]);
  context.vars.waitSeconds = Number.isFinite(header) && header > 0 ? Math.min(header, MAX_WAIT_SECONDS) : 1;
  if (status === 409 && !retryable) events.emit("counter", "loadtest.sold_out", 1);
  return done();
}

function shouldRetry(context, next) {
  return next(context.vars.retry === true);
}

function wantsToBuy(context, next) {
  return next(context.vars.buy === true && context.vars.retry === true);
}

/** Honours Retry-After (capped so a test stays bounded) before the next attempt. */
function backOff(context, _events, done) {
  if (!context.vars.retry) return done();
  setTimeout(done, context.vars.waitSeconds * 1000);
}

module.exports = { newClient, pickProduct, checkoutOutcome, shouldRetry, wantsToBuy, backOff };
