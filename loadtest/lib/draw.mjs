// The draw: a product in a few sizes sold by lot (docs/draws.md). Entrants each enter once, as the
// storefront does, at bounded concurrency: a tenth try again under another spelling of their Gmail
// address (refused: draw_already_entered), some use the card of another entrant (one of the two is
// refused: draw_card_used), 3% have their card declined (402) and 2% hold a card whose capture fails.
// The close is set from the entry rate measured on a small draw first, so that every entrant is in
// before it. Then the draw runs by itself: close, reveal, ranking, captures, cancels. The audit of
// what it left is in draw-audit.mjs.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { percentile } from "./stats.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

const ADDRESS = { line1: "1 Main St", city: "Springfield", postalCode: "12345", country: "US" };
/** Each person's card is named after them; the simulator takes the fingerprint from the token's dot. */
const cardOf = (id) => `card_p${id}`;

/** A product in `sizes`, `stock` of each on hand; not yet drawn. */
async function createDrawProduct(api, { name, sizes, stock, price }) {
  const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  const skus = sizes.map((size) => `${name.toUpperCase()}-${tag.toUpperCase()}-${size}`);
  const product = await api.call("POST", "/v1/admin/products", {
    slug: `${name}-${tag}`,
    title: `Load test ${name}`,
    description: "Sold by draw",
    category: "footwear",
    images: ["https://img.example/draw.jpg"],
    variants: sizes.map((size, i) => ({
      sku: skus[i],
      title: `EU ${size}`,
      price: { amount: price, currency: "USD" },
      attributes: { size: String(size) },
    })),
  });
  for (const sku of skus) await api.call("PUT", `/v1/admin/inventory/${sku}`, { onHand: stock });
  return { productId: product.id, skus };
}

/**
 * The shipping method entrants choose, as the storefront asks for it: the first the shop offers for
 * the entrants' address (a shop with shipping zones requires one, as checkout does); none where the
 * shop has no zones.
 */
async function shippingChoice(api, sku) {
  const query = new URLSearchParams({ country: ADDRESS.country, items: `${sku}:1` });
  const { methods } = await api.call("GET", `/v1/shipping-methods?${query}`);
  return methods[0] ? { method: methods[0].id } : null;
}

/** Opens the product's draw now, closing at `closesAt`, with `units` of each size held for it. */
async function openDraw(api, product, { units, closesAt }) {
  const unitsBySku = Object.fromEntries(product.skus.map((sku) => [sku, units]));
  const answer = await api.call("POST", `/v1/admin/products/${product.productId}/draw`, {
    opensAt: new Date(Date.now() - 1000).toISOString(),
    closesAt: new Date(closesAt).toISOString(),
    units: unitsBySku,
  });
  const shipping = await shippingChoice(api, product.skus[0]);
  return { ...product, units: unitsBySku, closesAt, commitment: answer.status.commitment, shipping };
}

/**
 * The entrants, in a shuffled order. Roles go by the person's number, so that a card's owner is
 * never also a sharer, a decline or a second try (which would make the expected answer a race):
 * of each hundred, 10 try twice, 3 are declined, 2 hold a card whose capture fails, 2 enter with
 * the card of the person two places on (whose own entry is plain).
 */
export function entrantsOf(count, sizes) {
  const entrants = [];
  for (let id = 0; id < count; id++) {
    const r = id % 100;
    const role =
      r < 10 ? "twice" : r < 13 ? "declined" : r < 15 ? "capture_fails" : r < 17 ? "sharer" : "plain";
    const card = role === "sharer" && id + 2 < count ? cardOf(id + 2) : cardOf(id);
    const kind = { declined: "tok_declined", capture_fails: "tok_capture_fails" }[role] ?? "tok_ok";
    entrants.push({
      id,
      role: role === "sharer" && card === cardOf(id) ? "plain" : role,
      email: `e${id}.x@gmail.com`,
      // Another spelling of the same mailbox: dots moved, a +tag, the other Google domain.
      alias: [`E.${id}X+again@gmail.com`, `e${id}x@googlemail.com`, `e${id}.x+2@GoogleMail.com`][id % 3],
      card,
      token: `${kind}.${card}`,
      sku: sizes.pick(),
      ip: `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}`,
    });
  }
  for (let i = entrants.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [entrants[i], entrants[j]] = [entrants[j], entrants[i]];
  }
  return entrants;
}

/** One entry request, retried under its key after a 429, a 503 or a lost connection. */
async function enterOnce(pool, draw, body, ip, latencies, { deadline }) {
  const key = randomUUID();
  const payload = JSON.stringify({
    ...body,
    shippingAddress: ADDRESS,
    ...(draw.shipping ? { shipping: draw.shipping } : {}),
  });
  for (let attempt = 1; ; attempt++) {
    const sent = performance.now();
    try {
      const response = await pool.request({
        path: `/v1/drops/${draw.productId}/draw/entries`,
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": key, "cf-connecting-ip": ip },
        body: payload,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const text = await response.body.text();
      latencies.push(performance.now() - sent);
      const answer = text ? JSON.parse(text) : {};
      const status = response.statusCode;
      if ((status === 429 || status === 503) && attempt < 20 && Date.now() < deadline) {
        await sleep(Number(response.headers["retry-after"] ?? 1) * 1000);
        continue;
      }
      return {
        status,
        code: answer.code ?? null,
        entryId: answer.entry?.entryId ?? null,
        entryToken: answer.entryToken ?? null,
        at: Date.now(),
        attempts: attempt,
      };
    } catch (error) {
      if (attempt >= 20 || Date.now() >= deadline)
        return { status: 0, code: String(error?.code ?? error), at: Date.now(), attempts: attempt };
      await sleep(500);
    }
  }
}

/**
 * Every entrant enters (and a second time under an alias, for those who try twice), `connections`
 * at a time, until `stopAt`: an entrant not started by then is counted `late`. Answers each
 * entrant's record, with its acceptance time, and the rate.
 */
async function runEntrants({ target, draw, entrants, connections, stopAt, log, label = "entries" }) {
  const pool = new Pool(target, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const records = [];
  const latencies = [];
  let next = 0;
  let lastLog = Date.now();
  const started = performance.now();
  const startedAt = Date.now();
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= entrants.length) return;
      const entrant = entrants[index];
      if (Date.now() >= stopAt) {
        records.push({ ...entrant, first: { status: -1, code: "late" } });
        continue;
      }
      const body = { email: entrant.email, sku: entrant.sku, paymentToken: entrant.token };
      const first = await enterOnce(pool, draw, body, entrant.ip, latencies, { deadline: stopAt });
      const record = { ...entrant, first };
      if (entrant.role === "twice" && first.status === 201) {
        const again = { email: entrant.alias, sku: entrant.sku, paymentToken: `tok_ok.${entrant.card}b` };
        record.second = await enterOnce(pool, draw, again, entrant.ip, latencies, { deadline: stopAt });
      }
      records.push(record);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        const rate = records.length / ((Date.now() - startedAt) / 1000);
        log(`${label}: ${records.length}/${entrants.length} entrants answered (${rate.toFixed(0)}/s)`);
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await pool.close();
  const seconds = (performance.now() - started) / 1000;
  const accepted = records.filter((record) => record.first.status === 201).length;
  const requests = records.length + records.filter((record) => record.second).length;
  return {
    records,
    seconds,
    requests,
    accepted,
    entriesPerSecond: Number((accepted / seconds).toFixed(1)),
    requestsPerSecond: Number((requests / seconds).toFixed(1)),
    p50Ms: Math.round(percentile(latencies, 50)),
    p95Ms: Math.round(percentile(latencies, 95)),
    p99Ms: Math.round(percentile(latencies, 99)),
  };
}

/**
 * The entry rate on this machine now: plain entrants into a small draw of its own for `seconds`
 * (its cards are `card_cal…`, so its holds are told apart from the draw under test's).
 */
async function calibrateEntries({ api, target, connections, seconds, settings, log }) {
  const product = await createDrawProduct(api, { ...settings, name: "drawcal", sizes: [1] });
  const draw = await openDraw(api, product, { units: 1, closesAt: Date.now() + (seconds + 10) * 1000 });
  const entrants = Array.from({ length: 100_000 }, (_, id) => ({
    id,
    role: "plain",
    email: `cal${id}@example.com`,
    card: `card_cal${id}`,
    token: `tok_ok.card_cal${id}`,
    sku: product.skus[0],
    ip: `10.200.${(id >> 8) & 255}.${id & 255}`,
  }));
  const run = await runEntrants({
    target,
    draw,
    entrants,
    connections,
    stopAt: Date.now() + seconds * 1000,
    log,
    label: "calibration",
  });
  const late = run.records.filter((record) => record.first.status === -1).length;
  const answered = run.records.length - late;
  return { entriesPerSecond: Number((answered / seconds).toFixed(1)), answered, p50Ms: run.p50Ms };
}

/** Polls the public record until the draw is drawn; answers when each state was first seen. */
async function awaitDrawn({ api, draw, deadlineMs, log }) {
  const seen = {};
  const deadline = Date.now() + deadlineMs;
  let lastLog = 0;
  for (;;) {
    const record = await api.call("GET", `/v1/drops/${draw.productId}/draw/proof`).catch(() => null);
    if (record && !seen[record.state]) seen[record.state] = Date.now();
    if (record?.state === "drawn") return { seen, record };
    if (Date.now() > deadline) return { seen, record, timedOut: true };
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      const status = await api
        .call("GET", `/v1/admin/products/${draw.productId}/draw`)
        .catch((error) => ({ phase: `unreadable (${error.message})` }));
      log(
        `draw: ${record?.state ?? "?"} (phase ${status.phase}, entries ${status.entries ?? "?"}, won ${status.won ?? "?"}, passed on ${status.passedOn ?? "?"})`,
      );
    }
    await sleep(1000);
  }
}

/**
 * Measures the entry rate, then sets up the draw under test: open now, closing when all the entrants
 * (and the second tries) should be in at two thirds of the measured rate, plus 20 s.
 */
export async function prepareDraw({ api, target, settings, log }) {
  const { entrants: count, connections, calibrateSeconds } = settings;
  log(`measuring the entry rate on a small draw for ${calibrateSeconds} s...`);
  const calibration = await calibrateEntries({
    api,
    target,
    connections,
    seconds: calibrateSeconds,
    settings,
    log,
  });
  const requests = count * 1.1;
  const closesInSeconds = Math.ceil((requests / Math.max(1, calibration.entriesPerSecond)) * 1.5 + 20);
  log(
    `calibration: ${calibration.entriesPerSecond} entries/s (p50 ${calibration.p50Ms} ms); ` +
      `the draw closes in ${closesInSeconds} s`,
  );
  const product = await createDrawProduct(api, { ...settings, name: "drawn" });
  const stockBefore = {};
  for (const sku of product.skus) {
    const detail = await api.inventory(sku);
    stockBefore[sku] = { onHand: detail.onHand, committed: detail.committed, reserved: detail.reserved };
  }
  const draw = await openDraw(api, product, {
    units: settings.units,
    closesAt: Date.now() + closesInSeconds * 1000,
  });
  const entrants = entrantsOf(count, weightedSkus(product.skus, settings.sizeShares));
  return { draw, entrants, stockBefore, calibration };
}

/** A SKU chooser by share: the last size is rare, so that its list runs out before its units. */
function weightedSkus(skus, shares) {
  return {
    pick: () => {
      let r = Math.random();
      for (let i = 0; i < skus.length; i++) {
        r -= shares[i] ?? 0;
        if (r < 0) return skus[i];
      }
      return skus[0];
    },
  };
}

/**
 * The entrants enter until a few seconds before the close; then the draw runs by itself. Answers the
 * entries' run and, from the public record, when the draw was closed, revealed and drawn.
 */
export async function runDraw({ api, target, prepared, settings, log }) {
  const { draw, entrants } = prepared;
  const run = await runEntrants({
    target,
    draw,
    entrants,
    connections: settings.connections,
    stopAt: draw.closesAt - 3000,
    log,
  });
  log(
    `entries: ${run.accepted} entered of ${run.records.length} entrants (${run.requests} requests) in ` +
      `${run.seconds.toFixed(1)} s: ${run.entriesPerSecond} entries/s, ${run.requestsPerSecond} requests/s, ` +
      `p50 ${run.p50Ms} p95 ${run.p95Ms} p99 ${run.p99Ms} ms`,
  );
  log(`waiting for the close at ${new Date(draw.closesAt).toISOString().slice(11, 19)} and the draw...`);
  await sleep(draw.closesAt - Date.now());
  const drawn = await awaitDrawn({ api, draw, deadlineMs: settings.drawDeadlineSeconds * 1000, log });
  const since = (state) =>
    drawn.seen[state] ? Number(((drawn.seen[state] - draw.closesAt) / 1000).toFixed(1)) : null;
  const timing = {
    entriesPerSecond: run.entriesPerSecond,
    requestsPerSecond: run.requestsPerSecond,
    entrySeconds: Number(run.seconds.toFixed(1)),
    closeToClosedSeconds: since("closed"),
    closeToRevealedSeconds: since("revealed"),
    closeToDrawnSeconds: since("drawn"),
  };
  log(
    drawn.timedOut
      ? `the draw was not drawn within ${settings.drawDeadlineSeconds} s of the close (state ${drawn.record?.state})`
      : `drawn ${timing.closeToDrawnSeconds} s after the close (sealed after ${timing.closeToClosedSeconds} s, revealed after ${timing.closeToRevealedSeconds} s)`,
  );
  return { run, record: drawn.record ?? {}, timedOut: Boolean(drawn.timedOut), timing };
}
