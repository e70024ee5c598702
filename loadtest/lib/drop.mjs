// The drop: a limited release sold through its waiting room to a crowd that arrives around the start,
// with a burst in its last seconds and a share of buyers who join under several spellings of one
// Gmail address. Each arrival is a client of its own, doing what the storefront does: join, ask for
// its place when told to, check out with its pass once admitted, follow its order to the end, and
// stop when it bought or was told sold out. Then the audit: limits, fairness, and nobody left waiting.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { cpuSeconds } from "./cpu.mjs";
import { drive } from "./drive.mjs";
import { chiSquareIndependence, percentile } from "./stats.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const rand = (n) => Math.floor(Math.random() * n);

/** A product sold only through its waiting room, starting at `startsAt`, with one SKU. */
async function dropProduct(api, { name, startsAt, waitingRoom, maxPerCustomer, amount }) {
  const tag = Date.now().toString(36);
  const sku = `${name.toUpperCase()}-${tag.toUpperCase()}`;
  const product = await api.call("POST", "/v1/admin/products", {
    slug: `${name}-${tag}`,
    title: `Load test ${name}`,
    description: "Sold through a fair waiting room",
    category: "footwear",
    images: ["https://img.example/drop.jpg"],
    saleStartsAt: new Date(startsAt).toISOString(),
    ...(maxPerCustomer ? { maxPerCustomer } : {}),
    waitingRoom,
    variants: [{ sku, title: "One size", price: { amount, currency: "USD" }, attributes: { size: "42" } }],
  });
  return { productId: product.id, sku };
}

/** The limited drop the crowd buys; answers what the crowd needs to find it. */
export async function setUpDrop(api, { units, startsInSeconds, admitPerMinute, prequeueSeconds }) {
  const startsAt = Date.now() + startsInSeconds * 1000;
  const { productId, sku } = await dropProduct(api, {
    name: "limited-drop",
    startsAt,
    waitingRoom: { admitPerMinute, prequeueSeconds },
    maxPerCustomer: 1,
    amount: 18_000,
  });
  await api.call("PUT", `/v1/admin/inventory/${sku}`, { onHand: units });
  return { productId, sku, startsAt };
}

/**
 * What joining and asking one's place cost on this harness, closed-model like the bare ceiling: a
 * drop of its own (starting tomorrow, so its room never admits), the most joins and status polls a
 * second workerd serves, and workerd's CPU for each.
 */
export async function calibrate(api, target, pids, { seconds = 5, connections = 50 } = {}) {
  const { productId } = await dropProduct(api, {
    name: "calibration-drop",
    startsAt: Date.now() + 86_400_000,
    waitingRoom: { admitPerMinute: 60 },
    amount: 100,
  });
  const measure = async (options) => {
    const cpuBefore = cpuSeconds(pids);
    const result = await drive({ ...options, connections, seconds });
    const cpuAfter = cpuSeconds(pids);
    const requests = Object.values(result.statuses).reduce((n, c) => n + c, 0);
    return {
      ...result,
      cpuUsPer:
        cpuBefore === null || cpuAfter === null || requests === 0
          ? null
          : Math.round(((cpuAfter - cpuBefore) * 1e6) / requests),
    };
  };
  const joins = await measure({
    url: `${target}/v1/drops/${productId}/tickets`,
    method: "POST",
    headers: { "content-type": "application/json" },
    request: (i) => ({
      body: JSON.stringify({ email: `calibration-${i}-${Math.random().toString(36).slice(2)}@example.com` }),
    }),
  });
  const joined = await fetch(`${target}/v1/drops/${productId}/tickets`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `calibration-${productId}@example.com` }),
  }).then((response) => response.json());
  const polls = await measure({
    url: `${target}/v1/drops/${productId}/status`,
    headers: { authorization: `Bearer ${joined.ticket}` },
  });
  return { joins, polls };
}

/**
 * The people of the crowd and when each arrives. `aliasShare` of them join under 2 to 4 spellings
 * of one Gmail address (dots, +tags, googlemail.com), which the shop folds into one customer;
 * `cardShare` under 2 or 3 unrelated addresses paying with the same card, which only the card's
 * fingerprint ties together. Each address is a client of its own, arriving within 1.5 s of the
 * first. Arrivals: `early` spread evenly until the burst, `burst` rising over its last
 * `burstSeconds` before the start, the rest evenly over `lateSeconds` after it.
 */
function crowdOf(settings, from, startsAt) {
  const { people, aliasShare, cardShare, declineShare, early, burst, burstSeconds, lateSeconds } = settings;
  const burstFrom = startsAt - burstSeconds * 1000;
  const crowd = [];
  for (let i = 0; i < people; i++) {
    const roll = Math.random();
    let arrivesAt;
    if (roll < early) arrivesAt = from + Math.random() * (burstFrom - from);
    // A rising burst: density growing linearly towards the start.
    else if (roll < early + burst) arrivesAt = burstFrom + Math.sqrt(Math.random()) * burstSeconds * 1000;
    else arrivesAt = startsAt + Math.random() * lateSeconds * 1000;
    const local = `fan${i}x${rand(1e6)}`;
    const kind = Math.random();
    let emails;
    if (kind < aliasShare) {
      emails = [
        `${local}@gmail.com`,
        `${local.slice(0, 2)}.${local.slice(2)}@gmail.com`,
        `${local}+drop@gmail.com`,
        `${local.toUpperCase()}@googlemail.com`,
      ].slice(0, 2 + rand(3));
    } else if (kind < aliasShare + cardShare) {
      emails = [`${local}@example.com`, `${local}-2@example.net`, `drops-${local}@example.org`].slice(
        0,
        2 + rand(2),
      );
    } else {
      emails = [i % 2 ? `${local}@gmail.com` : `buyer-${local}@example.com`];
    }
    crowd.push({
      id: i,
      multi: emails.length > 1,
      sharedCard: kind >= aliasShare && kind < aliasShare + cardShare,
      arrivesAt,
      card: `card_${local}`,
      clients: emails.map((email, k) => ({
        email,
        at: k === 0 ? arrivesAt : arrivesAt + Math.random() * 1500,
        ip: `10.${rand(256)}.${rand(256)}.${rand(256)}`,
        declinesFirst: Math.random() < declineShare,
      })),
    });
  }
  return crowd;
}

/** Runs the crowd against the drop until every client has an outcome or the deadline passes. */
export async function runCrowd({ target, drop, crowd: settings, log, pids = [], deadlineSeconds = 240 }) {
  const pool = new Pool(target, {
    connections: 512,
    keepAliveTimeout: 60_000,
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  const requests = { join: [], poll: [], checkout: [], order: [] };
  const runStartedAt = Date.now();
  const deadline = drop.startsAt + deadlineSeconds * 1000;
  const retryAfterMs = (r, fallback) => {
    const header = Number(r.headers?.["retry-after"]);
    return Number.isFinite(header) && header > 0 ? header * 1000 : fallback;
  };

  async function send(kind, method, path, { headers = {}, json } = {}) {
    const at = Date.now();
    const started = performance.now();
    let result;
    try {
      const response = await pool.request({
        method,
        path,
        headers: json ? { ...headers, "content-type": "application/json" } : headers,
        body: json ? JSON.stringify(json) : undefined,
      });
      const text = await response.body.text();
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {}
      result = { status: response.statusCode, headers: response.headers, body };
    } catch (error) {
      result = { status: 0, headers: {}, body: null, error: String(error) };
    }
    const ms = performance.now() - started;
    requests[kind].push({ at, ms, status: result.status });
    return result;
  }

  async function followOrder(accepted) {
    while (Date.now() < deadline) {
      await sleep(500);
      const r = await send("order", "GET", `/v1/orders/${accepted.orderId}`, {
        headers: { authorization: `Bearer ${accepted.orderToken}` },
      });
      if (r.status === 200 && r.body.status !== "pending_payment") return r.body;
    }
    return { status: "pending_payment" };
  }

  /** Checks out with the pass: a final outcome, or "no_stock" (ask the room again). */
  async function buy(person, client, record, pass) {
    for (let attempt = 0; attempt < 3; attempt++) {
      // Each person pays with a card of their own (the simulator names it after the token's dot).
      const token = `${attempt === 0 && client.declinesFirst ? "tok_declined" : "tok_ok"}.${person.card}`;
      const key = randomUUID();
      for (let tries = 0; ; tries++) {
        const r = await send("checkout", "POST", "/v1/checkout", {
          headers: { "idempotency-key": key, "cf-connecting-ip": client.ip },
          json: {
            items: [{ sku: drop.sku, quantity: 1 }],
            customer: { email: client.email },
            payment: { token },
            admission: { pass },
          },
        });
        if (r.status === 202) {
          record.orders.push(r.body.orderId);
          const order = await followOrder(r.body);
          if (order.status === "paid") return "bought";
          // The card's allowance is taken (the same card bought under another address).
          if (order.failureReason?.startsWith("purchase_limit_exceeded")) return "limited_by_card";
          if (order.status === "payment_failed") break; // the units, the allowances and the pass came back
          return `order_${order.status}`;
        }
        const code = r.body?.code;
        if (r.status === 409 && code === "insufficient_stock") return "no_stock";
        if (r.status === 409 && code === "purchase_limit_exceeded") return "limited";
        if (r.status === 403 && code === "admission_pass_used") return "pass_used";
        const transient = r.status === 0 || r.status === 429 || r.status >= 500;
        if (!transient || tries >= 8 || Date.now() > deadline) return `checkout_${r.status}_${code ?? ""}`;
        await sleep(retryAfterMs(r, 500 * 2 ** Math.min(tries, 4)));
      }
    }
    return "payment_failed";
  }

  async function client(person, client) {
    const record = {
      person: person.id,
      email: client.email,
      scheduledAt: client.at,
      lagMs: 0,
      prequeue: null,
      admitted: false,
      toldSoldOut: false,
      triedCheckout: false,
      orders: [],
      outcome: null,
    };
    await sleep(client.at - Date.now());
    record.lagMs = Date.now() - client.at;
    let ticket = null;
    for (let tries = 0; !ticket; tries++) {
      const r = await send("join", "POST", `/v1/drops/${drop.productId}/tickets`, {
        headers: { "cf-connecting-ip": client.ip },
        json: { email: client.email },
      });
      if (r.status === 201) {
        ticket = r.body.ticket;
        record.prequeue = r.body.prequeue;
        break;
      }
      const transient = r.status === 0 || r.status === 429 || r.status >= 500;
      if (!transient || tries >= 8 || Date.now() > deadline) {
        record.outcome = `join_${r.status}`;
        return record;
      }
      await sleep(retryAfterMs(r, 500 * 2 ** Math.min(tries, 4)));
    }
    // The storefront shows the place at once; the crowd's first asks are spread over a second.
    await sleep(rand(1000));
    while (Date.now() < deadline) {
      const r = await send("poll", "GET", `/v1/drops/${drop.productId}/status`, {
        headers: { authorization: `Bearer ${ticket}` },
      });
      if (r.status !== 200) {
        await sleep(retryAfterMs(r, 2000));
        continue;
      }
      const status = r.body;
      if (status.state === "sold_out") {
        record.toldSoldOut = true;
        record.outcome = "told_sold_out";
        return record;
      }
      if (status.state === "expired") {
        record.outcome = "pass_expired";
        return record;
      }
      if (status.state === "admitted") {
        record.admitted = true;
        if (record.triedCheckout && status.unitsLeft === 0) {
          // Every unit is held by buyers still paying: wait for some to come back, or for sold out.
          await sleep(2000);
          continue;
        }
        record.triedCheckout = true;
        const outcome = await buy(person, client, record, status.pass);
        if (outcome !== "no_stock") {
          record.outcome = outcome;
          return record;
        }
        // Units are held by buyers still paying: ask the room again, which says sold out once
        // they are sold, or shows units left when some come back.
        await sleep(2000);
        continue;
      }
      await sleep((status.pollAfterSeconds ?? 2) * 1000);
    }
    record.outcome = "left_waiting";
    return record;
  }

  const crowd = crowdOf(settings, runStartedAt + 1000, drop.startsAt);
  const clients = crowd.flatMap((person) => person.clients.map((c) => ({ person, client: c })));
  log(
    `drop: ${crowd.length} people, ${clients.length} arrivals (${crowd.filter((p) => p.multi).length} people under several emails); the sale starts in ${((drop.startsAt - Date.now()) / 1000).toFixed(0)} s`,
  );
  const cpuBefore = process.cpuUsage();
  // workerd's CPU, a sample a second: whether a slow second was work or waiting.
  const workerdCpu = [];
  let lastCpu = cpuSeconds(pids);
  const sampler = setInterval(() => {
    const cpu = cpuSeconds(pids);
    if (cpu !== null && lastCpu !== null) workerdCpu.push({ at: Date.now(), share: cpu - lastCpu });
    lastCpu = cpu;
  }, 1000);
  const progress = setInterval(() => {
    const done = requests.join.length;
    log(
      `drop: ${done} joined, ${requests.poll.length} status polls, ${requests.checkout.length} checkouts, ${requests.order.length} order reads`,
    );
  }, 5000);
  const records = await Promise.all(clients.map(({ person, client: c }) => client(person, c)));
  clearInterval(progress);
  clearInterval(sampler);
  await pool.close();
  const cpu = process.cpuUsage(cpuBefore);
  const elapsed = (Date.now() - runStartedAt) / 1000;
  return {
    crowd,
    records,
    requests,
    workerdCpu,
    generatorCpuShare: (cpu.user + cpu.system) / 1e6 / elapsed,
  };
}

/** Requests of one kind in a time window: rate offered and answered, latency, answers by status. */
function windowStats(list, from, to) {
  const inWindow = list.filter((r) => r.at >= from && r.at < to);
  const seconds = Math.max((to - from) / 1000, 0.001);
  const latencies = inWindow.map((r) => r.ms);
  const byStatus = {};
  for (const r of inWindow) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  return {
    requests: inWindow.length,
    perSecond: Math.round(inWindow.length / seconds),
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    p99Ms: round(percentile(latencies, 99)),
    byStatus,
  };
}

const round = (ms) => (ms === null ? null : Math.round(ms * 10) / 10);

/** The busiest second of a kind of request: how many were sent in it, and how they fared. */
function busiestSecond(list) {
  const perSecond = new Map();
  for (const r of list) {
    const second = Math.floor(r.at / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  let peak = [0, 0];
  for (const entry of perSecond) if (entry[1] > peak[1]) peak = entry;
  return windowStats(list, peak[0] * 1000, peak[0] * 1000 + 1000);
}

/** Second by second from the start (negative before it): requests of each kind and their p99. */
function timeline(requests, workerdCpu, startsAt) {
  const seconds = new Map();
  for (const { at, share } of workerdCpu) {
    const second = Math.floor((at - startsAt) / 1000) - 1;
    seconds.set(second, { ...seconds.get(second), workerdCpu: share });
  }
  for (const [kind, list] of Object.entries(requests)) {
    for (const r of list) {
      const second = Math.floor((r.at - startsAt) / 1000);
      const row = seconds.get(second) ?? {};
      row[kind] = row[kind] ?? [];
      row[kind].push(r.ms);
      seconds.set(second, row);
    }
  }
  return [...seconds]
    .sort(([a], [b]) => a - b)
    .map(([second, row]) => ({
      second,
      ...Object.fromEntries(
        Object.entries(row).map(([kind, ms]) => [
          kind,
          kind === "workerdCpu"
            ? Number(ms.toFixed(2))
            : `${ms.length} p99 ${Math.round(percentile(ms, 99))} ms`,
        ]),
      ),
    }));
}

/** How the edge held the crowd: each kind of request's rate and latency, the busiest seconds, a timeline. */
export function edgeOf({ records, requests, workerdCpu = [] }, drop, settings) {
  const first = Math.min(...requests.join.map((r) => r.at));
  const burstFrom = drop.startsAt - settings.burstSeconds * 1000;
  const lags = records.map((r) => r.lagMs);
  return {
    joinsBeforeBurst: windowStats(requests.join, first, burstFrom),
    joinsInBurst: windowStats(requests.join, burstFrom, drop.startsAt),
    joinsAfterStart: windowStats(requests.join, drop.startsAt, Number.POSITIVE_INFINITY),
    busiestJoinSecond: busiestSecond(requests.join),
    polls: windowStats(requests.poll, 0, Number.POSITIVE_INFINITY),
    busiestPollSecond: busiestSecond(requests.poll),
    checkouts: windowStats(requests.checkout, 0, Number.POSITIVE_INFINITY),
    orderReads: windowStats(requests.order, 0, Number.POSITIVE_INFINITY),
    generatorLagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(...lags) },
    timeline: timeline(requests, workerdCpu, drop.startsAt),
  };
}

/**
 * The drop's own audit, beside the stock audit every scenario gets: nobody above the limit (by the
 * person behind the emails, which is stricter than the shop's own folding of them), every admitted
 * person bought or was told sold out, nobody left waiting, and fairness among those who came early.
 */
export function auditDrop({ crowd, records, requests }, orders, drop, settings) {
  const personOf = new Map(records.map((r) => [r.email, r.person]));
  const paidUnits = new Map();
  let unitsPaid = 0;
  for (const order of orders) {
    if (order.status !== "paid") continue;
    const units = order.items.filter((i) => i.sku === drop.sku).reduce((n, i) => n + i.quantity, 0);
    if (units === 0) continue;
    unitsPaid += units;
    const person = personOf.get(order.customer.email) ?? order.customer.email;
    paidUnits.set(person, (paidUnits.get(person) ?? 0) + units);
  }
  const overLimit = [...paidUnits.values()].filter((units) => units > 1).length;

  const byPerson = new Map(crowd.map((p) => [p.id, []]));
  for (const record of records) byPerson.get(record.person).push(record);
  const bought = (p) => (paidUnits.get(p.id) ?? 0) > 0;
  const outcomes = {};
  for (const record of records) outcomes[record.outcome] = (outcomes[record.outcome] ?? 0) + 1;
  // What a client of the drop may end with; anything else is a surprise the run fails on.
  const expected = new Set(["bought", "told_sold_out", "limited", "limited_by_card", "pass_used"]);
  const unexpected = records.filter((record) => !expected.has(record.outcome)).length;
  let admittedPeople = 0;
  let admittedUnserved = 0;
  let leftWaiting = 0;
  for (const person of crowd) {
    const mine = byPerson.get(person.id);
    const told = mine.some((r) => r.toldSoldOut);
    if (mine.some((r) => r.admitted)) {
      admittedPeople++;
      if (!bought(person) && !told) admittedUnserved++;
    } else if (!told) leftWaiting++;
  }

  // Fairness: people whose first arrival came before the start and whom the shop put in the
  // shuffled prequeue, in ten groups by arrival order (anyone the harness could not seat in time is
  // counted apart: their loss would be the harness's, not the draw's).
  const firstClient = (p) => byPerson.get(p.id).find((r) => r.scheduledAt === p.arrivesAt);
  const arrivedEarly = crowd.filter((p) => p.arrivesAt < drop.startsAt);
  const early = arrivedEarly
    .filter((p) => firstClient(p)?.prequeue === true)
    .sort((a, b) => a.arrivesAt - b.arrivesAt);
  const deciles = Array.from({ length: 10 }, (_, d) => {
    const group = early.slice(Math.floor((d * early.length) / 10), Math.floor(((d + 1) * early.length) / 10));
    const admitted = group.filter((p) => byPerson.get(p.id).some((r) => r.admitted)).length;
    const hits = group.filter(bought).length;
    return {
      decile: d + 1,
      arrivedFrom: new Date(group[0]?.arrivesAt ?? 0).toISOString().slice(11, 23),
      people: group.length,
      admitted,
      bought: hits,
      boughtShare: group.length ? Number((hits / group.length).toFixed(4)) : 0,
      n: group.length,
      hits,
    };
  });
  const fairness = chiSquareIndependence(deciles);
  const admittedFairness = chiSquareIndependence(deciles.map((d) => ({ n: d.n, hits: d.admitted })));
  const late = crowd.filter((p) => p.arrivesAt >= drop.startsAt);
  const share = (people) =>
    people.length ? Number((people.filter(bought).length / people.length).toFixed(4)) : 0;

  const result = {
    people: crowd.length,
    arrivals: records.length,
    unitsPaid,
    customersOverLimit: overLimit,
    admittedPeople,
    admittedNeitherBoughtNorToldSoldOut: admittedUnserved,
    leftWaiting,
    unexpectedOutcomes: unexpected,
    outcomes,
    fairness: {
      earlyPeople: early.length,
      earlyButNotPrequeued: arrivedEarly.length - early.length,
      deciles: deciles.map(({ n, hits, ...rest }) => rest),
      boughtByArrivalDecile: {
        chiSquare: Number(fairness.statistic.toFixed(3)),
        dof: fairness.dof,
        pValue: Number(fairness.pValue.toFixed(4)),
      },
      admittedByArrivalDecile: {
        chiSquare: Number(admittedFairness.statistic.toFixed(3)),
        dof: admittedFairness.dof,
        pValue: Number(admittedFairness.pValue.toFixed(4)),
      },
      boughtShareEarly: share(early),
      boughtShareLate: share(late),
      boughtShareOneEmail: share(crowd.filter((p) => !p.multi)),
      boughtShareGmailSpellings: share(crowd.filter((p) => p.multi && !p.sharedCard)),
      boughtShareOneCardSeveralAddresses: share(crowd.filter((p) => p.sharedCard)),
    },
  };
  const errors5xx = Object.values(requests)
    .flat()
    .filter((r) => r.status === 0 || r.status >= 500).length;
  result.serverErrors = errors5xx;
  result.passed =
    overLimit === 0 &&
    unitsPaid <= settings.units &&
    admittedUnserved === 0 &&
    leftWaiting === 0 &&
    unexpected === 0 &&
    errors5xx === 0 &&
    fairness.pValue >= 0.001;
  return result;
}

export function dropAuditLine(result) {
  const f = result.fairness.boughtByArrivalDecile;
  return (
    `drop audit: units_paid=${result.unitsPaid} customers_over_limit=${result.customersOverLimit} ` +
    `admitted_unserved=${result.admittedNeitherBoughtNorToldSoldOut} left_waiting=${result.leftWaiting} ` +
    `unexpected=${result.unexpectedOutcomes} ` +
    `5xx=${result.serverErrors} fairness chi2=${f.chiSquare} (dof ${f.dof}) p=${f.pValue} ` +
    `(people=${result.people} arrivals=${result.arrivals} admitted=${result.admittedPeople})`
  );
}

/** The crowd's requests as the report's steps (one row each kind), in the shape of a ramp's steps. */
export function dropSteps(edge) {
  const rows = [
    ["joins: early", edge.joinsBeforeBurst],
    ["joins: burst", edge.joinsInBurst],
    ["joins: late", edge.joinsAfterStart],
    ["status polls", edge.polls],
    ["checkouts", edge.checkouts],
    ["order reads", edge.orderReads],
  ];
  return rows.map(([name, stats]) => {
    const count = (test) =>
      Object.entries(stats.byStatus)
        .filter(([status]) => test(Number(status)))
        .reduce((n, [, c]) => n + c, 0);
    const mix = {
      ok: count((s) => s >= 200 && s < 400),
      soldOut: count((s) => s === 409),
      rateLimited: count((s) => s === 429),
      clientErrors: count((s) => s >= 400 && s < 500 && s !== 409 && s !== 429),
      serverErrors: count((s) => s >= 500),
      networkErrors: count((s) => s === 0),
    };
    return {
      name,
      offered: stats.perSecond,
      achievedRps: stats.perSecond,
      p50Ms: stats.p50Ms,
      p95Ms: stats.p95Ms,
      p99Ms: stats.p99Ms,
      mix,
      errorRate: stats.requests ? (mix.serverErrors + mix.networkErrors) / stats.requests : 0,
      generatorSaturated: edge.generatorLagMs.p99 > 250,
    };
  });
}
