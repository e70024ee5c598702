// The drop's second case: buyers take several units each (up to the drop's maxPerOrder), the drop
// sells out, and the shop restocks it by stock take while the line still waits. The harness keeps
// its own books of the room's promise, from what every client was told: each admission (the time a
// pass's turn came, read off the pass), each purchase, each sellout (from the stock sampled every
// quarter second), and checks that at every admission the admitted buyers who had not bought were
// never more than 1.5 per unit left, and that the restocked drop admitted again within seconds.
import { randomUUID } from "node:crypto";
import { Pool } from "undici";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const rand = (n) => Math.floor(Math.random() * n);

/** The room's promise: admitted buyers who have not bought, per unit left. */
const ADMIT_PER_UNIT_LEFT = 1.5;
/** A pass is good this long after its turn came (the room's PASS_TTL_MS). */
const PASS_TTL_MS = 10 * 60_000;
/** A restocked drop must admit again within this long (the room looks every 5 s while sold out). */
export const READMIT_WITHIN_SECONDS = 10;

/** A drop sold in orders of up to `maxPerOrder` units, starting `startsInSeconds` from now. */
export async function setUpRestockDrop(api, { units, maxPerOrder, admitPerMinute, startsInSeconds }) {
  const tag = Date.now().toString(36);
  const sku = `RESTOCK-DROP-${tag.toUpperCase()}`;
  const startsAt = Date.now() + startsInSeconds * 1000;
  const product = await api.call("POST", "/v1/admin/products", {
    slug: `restock-drop-${tag}`,
    title: "Load test restocked drop",
    description: "Sold through a waiting room, several units an order, restocked mid-drop",
    category: "footwear",
    images: ["https://img.example/drop.jpg"],
    saleStartsAt: new Date(startsAt).toISOString(),
    maxPerOrder,
    waitingRoom: { admitPerMinute },
    variants: [{ sku, title: "One size", price: { amount: 9_000, currency: "USD" }, attributes: {} }],
  });
  await api.call("PUT", `/v1/admin/inventory/${sku}`, { onHand: units });
  return { productId: product.id, sku, startsAt };
}

/**
 * Runs the case: `people` clients, most joining before the start, each buying 1 to `maxPerOrder`
 * units once admitted. A client told "sold out" keeps watching (as a buyer leaving the page open
 * would) until the restock has come and gone; one told "expired" (its pass spent by the sellout)
 * joins again. When the stock first reads sold out, the shop restocks `restockUnits` by stock take
 * `restockAfterSeconds` later.
 */
export async function runRestockCase({ target, api, drop, settings, log, deadlineSeconds = 150 }) {
  const { people, maxPerOrder, restockUnits, restockAfterSeconds, lateShare } = settings;
  const pool = new Pool(target, { connections: 256, keepAliveTimeout: 60_000 });
  const deadline = drop.startsAt + deadlineSeconds * 1000;
  const statuses = {};
  const samples = [];
  const stock = { restockAt: null, soldOutAfterRestock: false, done: false };

  async function send(method, path, { headers = {}, json } = {}) {
    try {
      const response = await pool.request({
        method,
        path,
        headers: json ? { ...headers, "content-type": "application/json" } : headers,
        body: json ? JSON.stringify(json) : undefined,
      });
      const text = await response.body.text();
      statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: response.statusCode, body };
    } catch (error) {
      statuses[0] = (statuses[0] ?? 0) + 1;
      return { status: 0, body: null, error: String(error) };
    }
  }

  // The stock, four times a second: units left for the cap, and the sellouts (which spend passes).
  const sampler = (async () => {
    let soldOutSince = null;
    while (!stock.done && Date.now() < deadline) {
      const sent = Date.now();
      const detail = await api.inventory(drop.sku).catch(() => null);
      if (detail) {
        // The read happened somewhere between the ask and the answer.
        const at = Math.round((sent + Date.now()) / 2);
        samples.push({ at, available: detail.available, onHand: detail.onHand });
        if (detail.onHand === 0) soldOutSince ??= at;
        else soldOutSince = null;
        if (
          soldOutSince !== null &&
          stock.restockAt === null &&
          at - soldOutSince >= restockAfterSeconds * 1000
        ) {
          const asked = Date.now();
          await api.call("PUT", `/v1/admin/inventory/${drop.sku}`, { onHand: restockUnits });
          // No admission can follow the restock before it was asked for: the units left from then.
          samples.push({ at: asked, available: restockUnits, onHand: restockUnits });
          stock.restockAt = asked;
          log(
            `restock: ${restockUnits} units by stock take, ${((stock.restockAt - drop.startsAt) / 1000).toFixed(1)} s after the start`,
          );
        }
        if (stock.restockAt !== null && soldOutSince !== null && soldOutSince > stock.restockAt) {
          stock.soldOutAfterRestock = true;
        }
      }
      await sleep(250);
    }
  })();

  async function join(record) {
    for (let tries = 0; tries < 8 && Date.now() < deadline; tries++) {
      const r = await send("POST", `/v1/drops/${drop.productId}/tickets`, { json: { email: record.email } });
      if (r.status === 201) return r.body.ticket;
      await sleep(500 * 2 ** Math.min(tries, 4));
    }
    return null;
  }

  async function buy(record, pass) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const key = randomUUID();
      for (let tries = 0; ; tries++) {
        const r = await send("POST", "/v1/checkout", {
          headers: { "idempotency-key": key, "cf-connecting-ip": record.ip },
          json: {
            items: [{ sku: drop.sku, quantity: record.quantity }],
            customer: { email: record.email },
            payment: { token: `tok_ok.card_${record.id}` },
            admission: { pass },
          },
        });
        if (r.status === 202) {
          record.orders.push(r.body.orderId);
          while (Date.now() < deadline) {
            await sleep(400);
            const order = await send("GET", `/v1/orders/${r.body.orderId}`, {
              headers: { authorization: `Bearer ${r.body.orderToken}` },
            });
            if (order.status !== 200 || order.body.status === "pending_payment") continue;
            if (order.body.status === "paid") return "bought";
            break;
          }
          break;
        }
        const code = r.body?.code;
        if (r.status === 409 && code === "insufficient_stock") return "no_stock";
        if (r.status === 403 && code === "admission_pass_expired") return "pass_spent";
        const transient = r.status === 0 || r.status === 429 || r.status >= 500;
        if (!transient || tries >= 8 || Date.now() > deadline) return `checkout_${r.status}_${code ?? ""}`;
        await sleep(500 * 2 ** Math.min(tries, 4));
      }
    }
    return "payment_failed";
  }

  /** One client from its arrival to its outcome. */
  async function outcomeOf(record) {
    await sleep(record.at - Date.now());
    let ticket = await join(record);
    let rejoins = 0;
    if (!ticket) return "join_failed";
    await sleep(rand(1000));
    while (Date.now() < deadline) {
      const r = await send("GET", `/v1/drops/${drop.productId}/status`, {
        headers: { authorization: `Bearer ${ticket}` },
      });
      const status = r.status === 200 ? r.body : null;
      const at = Date.now();
      if (status?.state === "sold_out") {
        record.toldSoldOut = true;
        if (stock.soldOutAfterRestock) return "told_sold_out";
        await sleep(2000);
        continue;
      }
      if (status?.state === "expired") {
        // The pass lapsed or a sellout spent it: the storefront offers a new place, at the back.
        if (rejoins >= 3) return "pass_expired";
        rejoins++;
        ticket = await join(record);
        if (!ticket) return "join_failed";
        continue;
      }
      if (status?.state === "admitted") {
        const turn = Date.parse(status.passExpiresAt) - PASS_TTL_MS;
        if (!record.admissions.some((admission) => admission.at === turn)) {
          record.admissions.push({ at: turn, seenAt: at, boughtAt: null });
        }
        // Told before that there was not enough: a buyer takes what is left rather than nothing.
        if (record.short && status.unitsLeft > 0)
          record.quantity = Math.min(record.quantity, status.unitsLeft);
        const outcome = await buy(record, status.pass);
        record.short = outcome === "no_stock";
        if (outcome === "bought") {
          record.admissions.at(-1).boughtAt = Date.now();
          return "bought";
        }
        if (outcome !== "no_stock" && outcome !== "pass_spent") return outcome;
        await sleep(2000);
        continue;
      }
      await sleep((status?.pollAfterSeconds ?? 2) * 1000);
    }
    return "left_waiting";
  }

  const records = Array.from({ length: people }, (_, id) => {
    const late = Math.random() < lateShare;
    return {
      id,
      email: `restock-${id}-${rand(1e6)}@example.com`,
      ip: `10.${rand(256)}.${rand(256)}.${rand(256)}`,
      quantity: 1 + rand(maxPerOrder),
      at: late
        ? drop.startsAt + Math.random() * 20_000
        : Date.now() + Math.random() * Math.max(0, drop.startsAt - Date.now() - 1000),
      admissions: [],
      orders: [],
      short: false,
      toldSoldOut: false,
      outcome: null,
    };
  });
  log(
    `restock case: ${people} people, orders of 1 to ${maxPerOrder} units; the sale starts in ${((drop.startsAt - Date.now()) / 1000).toFixed(0)} s`,
  );
  await Promise.all(
    records.map(async (record) => {
      record.outcome = await outcomeOf(record);
    }),
  );
  stock.done = true;
  await sampler;
  await pool.close();
  return { records, samples, restockAt: stock.restockAt, statuses };
}

/**
 * The case's audit, from the harness's own books. At each admission the harness saw (a pass's turn),
 * the buyers admitted within a pass's lifetime, after the last sellout before it, who had not bought
 * by then, against the units left then (the last sample before it); a tick's admissions are allowed
 * as slack for the quarter second between samples and the room's own read. Then how soon after the
 * restock the room admitted again, units paid against units stocked, and every client's outcome.
 */
export function auditRestock({ records, samples, restockAt, statuses }, settings) {
  const admissions = records.flatMap((record) => record.admissions);
  const sellouts = samples.filter((sample) => sample.onHand === 0).map((sample) => sample.at);
  const slack = Math.ceil(settings.admitPerMinute / 60);
  let worst = { excess: Number.NEGATIVE_INFINITY, at: null, outstanding: 0, unitsLeft: 0 };
  let maxRatio = 0;
  let violations = 0;
  for (const at of [...new Set(admissions.map((admission) => admission.at))].sort((a, b) => a - b)) {
    const lastSellout = Math.max(Number.NEGATIVE_INFINITY, ...sellouts.filter((s) => s < at));
    const outstanding = admissions.filter(
      (a) =>
        a.at <= at &&
        a.at > at - PASS_TTL_MS &&
        a.at > lastSellout &&
        (a.boughtAt === null || a.boughtAt > at),
    ).length;
    const unitsLeft = samples.filter((sample) => sample.at <= at).at(-1)?.available ?? settings.units;
    const excess = outstanding - ADMIT_PER_UNIT_LEFT * unitsLeft;
    if (excess > worst.excess) worst = { excess, at, outstanding, unitsLeft };
    if (unitsLeft > 0) maxRatio = Math.max(maxRatio, outstanding / unitsLeft);
    if (excess > slack) violations++;
  }
  const readmittedAt =
    restockAt === null
      ? null
      : Math.min(...admissions.filter((a) => a.at > restockAt).map((a) => a.at), Number.POSITIVE_INFINITY);
  const readmitSeconds =
    readmittedAt === null || readmittedAt === Number.POSITIVE_INFINITY
      ? null
      : Number(((readmittedAt - restockAt) / 1000).toFixed(2));
  const outcomes = {};
  for (const record of records) outcomes[record.outcome] = (outcomes[record.outcome] ?? 0) + 1;
  const expected = new Set(["bought", "told_sold_out"]);
  const unexpected = records.filter((record) => !expected.has(record.outcome)).length;
  const unitsBought = records
    .filter((record) => record.outcome === "bought")
    .reduce((n, record) => n + record.quantity, 0);
  const serverErrors = Object.entries(statuses)
    .filter(([status]) => Number(status) === 0 || Number(status) >= 500)
    .reduce((n, [, count]) => n + count, 0);
  const result = {
    people: records.length,
    admissions: admissions.length,
    rejoinedAndAdmitted: records.filter((record) => record.admissions.length > 1).length,
    unitsBought,
    unitsStocked: settings.units + settings.restockUnits,
    cap: {
      admissionsChecked: new Set(admissions.map((admission) => admission.at)).size,
      violations,
      slackBuyers: slack,
      maxRatio: Number(maxRatio.toFixed(3)),
      worst: { ...worst, excess: Number(worst.excess.toFixed(1)) },
    },
    restockAt: restockAt === null ? null : new Date(restockAt).toISOString(),
    readmitSeconds,
    outcomes,
    unexpectedOutcomes: unexpected,
    serverErrors,
  };
  result.passed =
    restockAt !== null &&
    readmitSeconds !== null &&
    readmitSeconds <= READMIT_WITHIN_SECONDS &&
    violations === 0 &&
    unitsBought <= result.unitsStocked &&
    unexpected === 0 &&
    serverErrors === 0;
  return result;
}

export function restockAuditLine(result) {
  return (
    `restock audit: cap_violations=${result.cap.violations} max_ratio=${result.cap.maxRatio} ` +
    `(worst ${result.cap.worst.outstanding} admitted unbought for ${result.cap.worst.unitsLeft} units) ` +
    `readmit_s=${result.readmitSeconds ?? "never"} units_bought=${result.unitsBought}/${result.unitsStocked} ` +
    `rejoined_admitted=${result.rejoinedAndAdmitted} unexpected=${result.unexpectedOutcomes} 5xx=${result.serverErrors}`
  );
}
