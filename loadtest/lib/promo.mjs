// The promotion: a discount code capped at a number of uses, one per customer, on a SKU with plenty
// of stock, raced for by a crowd of buyers at once (some of them one person under several spellings
// of a Gmail address). Each buyer is a client of its own that checks out with the code and retries
// the same Idempotency-Key after a network error, a 429 or a 503 (after Retry-After). Then the audit:
// exactly the cap of paid orders carry the code, nobody past the per-customer cap, nobody charged and
// refunded for the cap, every refusal for the code a discount_exhausted.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { percentile } from "./stats.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The SKU on promotion (plenty of stock, in buckets) and its code. */
export async function setUpPromo(api, { units, uses, buckets }) {
  const tag = Date.now().toString(36).toUpperCase();
  const sku = `PROMO-TEE-${tag}`;
  await api.call("POST", "/v1/admin/products", {
    slug: `promo-tee-${tag.toLowerCase()}`,
    title: "Promoted tee",
    description: "On promotion with a code",
    category: "tops",
    images: ["https://img.example/promo.jpg"],
    variants: [{ sku, title: "M", price: { amount: 2_500, currency: "USD" }, attributes: { size: "M" } }],
  });
  await api.call("PUT", `/v1/admin/inventory/${sku}`, { onHand: units, buckets });
  const code = `FIRST${uses}-${tag}`;
  await api.call("POST", "/v1/admin/discounts", {
    code: code.toLowerCase(),
    kind: "percentage",
    value: 20,
    maxUses: uses,
    maxUsesPerCustomer: 1,
  });
  return { sku, code, uses };
}

/** Who a customer is, as the shop counts them (src/shared/customer-key.ts). */
function customerKey(email) {
  const at = email.lastIndexOf("@");
  let local = email.slice(0, at).trim().toLowerCase().split("+")[0] ?? "";
  let host = email
    .slice(at + 1)
    .trim()
    .toLowerCase();
  if (host === "gmail.com" || host === "googlemail.com") {
    local = local.replaceAll(".", "");
    host = "gmail.com";
  }
  return `${local}@${host}`;
}

/** The crowd: `buyers` clients, `aliasShare` of them people who come back under other spellings. */
function crowdOf({ buyers, aliasShare }) {
  const people = [];
  let n = 0;
  while (people.reduce((sum, person) => sum + person.emails.length, 0) < buyers) {
    n++;
    const spellings = Math.random() < aliasShare ? 2 + Math.floor(Math.random() * 3) : 1;
    const emails = [
      `buyer.${n}@gmail.com`,
      `Buyer${n}+promo@gmail.com`,
      `BUYER.${n}@googlemail.com`,
      `buyer${n}@GMail.com`,
    ];
    people.push({ id: n, emails: emails.slice(0, spellings) });
  }
  const clients = people.flatMap((person) => person.emails.map((email) => ({ person: person.id, email })));
  for (let i = clients.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [clients[i], clients[j]] = [clients[j], clients[i]];
  }
  return clients.slice(0, buyers);
}

/** Every buyer checks out once (retrying its key as a real client does); answers what each got. */
export async function runPromo({ target, promo, crowd: settings, log }) {
  const clients = crowdOf(settings);
  const pool = new Pool(target, { connections: settings.connections, pipelining: 1 });
  const records = [];
  const latencies = [];
  let next = 0;
  const started = performance.now();
  const buy = async (client, index) => {
    const key = randomUUID();
    const body = JSON.stringify({
      items: [{ sku: promo.sku, quantity: 1 }],
      customer: { email: client.email },
      discountCode: index % 3 === 0 ? promo.code.toLowerCase() : promo.code,
      payment: { token: "tok_ok" },
    });
    const ip = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
    for (let attempt = 1; ; attempt++) {
      const sent = performance.now();
      try {
        const response = await pool.request({
          path: "/v1/checkout",
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": key, "cf-connecting-ip": ip },
          body,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        });
        const text = await response.body.text();
        latencies.push(performance.now() - sent);
        const answer = text ? JSON.parse(text) : {};
        if ((response.statusCode === 429 || response.statusCode === 503) && attempt < 10) {
          await sleep(Number(response.headers["retry-after"] ?? 1) * 1000);
          continue;
        }
        return {
          ...client,
          status: response.statusCode,
          code: answer.code ?? null,
          orderId: answer.orderId ?? null,
          attempts: attempt,
        };
      } catch (error) {
        if (attempt >= 10)
          return {
            ...client,
            status: 0,
            code: String(error?.code ?? error),
            orderId: null,
            attempts: attempt,
          };
        await sleep(500);
      }
    }
  };
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= clients.length) return;
      records.push(await buy(clients[index], index));
    }
  };
  await Promise.all(Array.from({ length: settings.connections }, worker));
  await pool.close();
  const seconds = (performance.now() - started) / 1000;
  const statuses = {};
  for (const record of records) statuses[record.status] = (statuses[record.status] ?? 0) + 1;
  log(
    `promo: ${records.length} buyers in ${seconds.toFixed(1)} s (${Math.round(records.length / seconds)}/s), ` +
      `statuses ${JSON.stringify(statuses)}, p50 ${Math.round(percentile(latencies, 50))} ms, p99 ${Math.round(percentile(latencies, 99))} ms`,
  );
  return {
    records,
    seconds,
    statuses,
    p50Ms: Math.round(percentile(latencies, 50)),
    p95Ms: Math.round(percentile(latencies, 95)),
    p99Ms: Math.round(percentile(latencies, 99)),
  };
}

/** The promotion's own audit, on the orders as the shop lists them once every payment settled. */
export async function auditPromo(api, run, orders, promo) {
  const withCode = orders.filter((order) => order.discountCode === promo.code);
  const paid = withCode.filter((order) => order.status === "paid");
  const perCustomer = new Map();
  for (const order of paid) {
    const key = customerKey(order.customer.email);
    perCustomer.set(key, (perCustomer.get(key) ?? 0) + 1);
  }
  const overCustomerCap = [...perCustomer.values()].filter((count) => count > 1).length;
  const refundedForTheCap = withCode.filter(
    (order) => (order.payment.refunded?.amount ?? 0) > 0 || order.payment.status === "refunded",
  ).length;
  const refused = run.records.filter((record) => record.status !== 202);
  const otherRefusals = refused.filter(
    (record) => !(record.status === 409 && record.code === "discount_exhausted"),
  );
  const accepted = run.records.filter((record) => record.status === 202).length;
  const discount = await api.call("GET", `/v1/admin/discounts/${promo.code}`);
  const checks = {
    paidWithCode: paid.length,
    acceptedWithCode: accepted,
    overCustomerCap,
    refundedForTheCap,
    refusedExhausted: refused.length - otherRefusals.length,
    otherRefusals: otherRefusals.length,
    uses: discount.uses,
  };
  const passed =
    paid.length === promo.uses &&
    accepted === promo.uses &&
    overCustomerCap === 0 &&
    refundedForTheCap === 0 &&
    otherRefusals.length === 0 &&
    discount.uses.used === promo.uses &&
    discount.uses.held === 0 &&
    discount.uses.left === 0;
  return {
    passed,
    ...checks,
    buyers: run.records.length,
    people: new Set(run.records.map((record) => record.person)).size,
    seconds: Number(run.seconds.toFixed(1)),
    p50Ms: run.p50Ms,
    p99Ms: run.p99Ms,
    otherStatuses: Object.fromEntries(
      Object.entries(
        otherRefusals.reduce((counts, record) => {
          const label = `${record.status} ${record.code ?? ""}`.trim();
          counts[label] = (counts[label] ?? 0) + 1;
          return counts;
        }, {}),
      ),
    ),
  };
}

export function promoAuditLine(result) {
  return (
    `promo audit: ${result.passed ? "PASSED" : "FAILED"} — paid with the code ${result.paidWithCode} ` +
    `(accepted ${result.acceptedWithCode}), over the per-customer cap ${result.overCustomerCap}, ` +
    `charged then refunded ${result.refundedForTheCap}, refused discount_exhausted ${result.refusedExhausted}, ` +
    `other refusals ${result.otherRefusals}${result.otherRefusals ? ` ${JSON.stringify(result.otherStatuses)}` : ""}; ` +
    `uses ${JSON.stringify(result.uses)}; ${result.buyers} buyers (${result.people} people) in ${result.seconds} s, ` +
    `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms`
  );
}
