// The load-test scenarios: Artillery flows (see processor.cjs) and how each is driven.
// `steps` is an open-model ramp (new virtual users per second, one step after another);
// `phases` is a fixed profile run once.
import { FLASH_SALE } from "../scripts/demo-catalog.mjs";

const checkout = (sku) => ({
  loop: [
    {
      post: {
        url: "/v1/checkout",
        headers: { "Idempotency-Key": "{{ idempotencyKey }}", "CF-Connecting-IP": "{{ clientIp }}" },
        json: {
          items: [{ sku, quantity: 1 }],
          customer: { email: "loadtest@example.com" },
          payment: { token: "{{ paymentToken }}" },
        },
        afterResponse: "checkoutOutcome",
        // Only buyers check out; the others leave after browsing.
        ifTrue: "buy",
      },
    },
    { function: "backOff" },
  ],
  whileTrue: "shouldRetry",
});

const browse = [
  { function: "pickProduct" },
  { get: { url: "/v1/products?limit=20&category={{ category }}" } },
  { get: { url: "/v1/products/{{ slug }}" } },
  { get: { url: "/v1/inventory/{{ sku }}" } },
];

const flashSale = [{ function: "newClient" }, checkout(FLASH_SALE.sku)];

const funnel = [
  { function: "newClient" },
  ...browse,
  { loop: checkout("{{ sku }}").loop, whileTrue: "wantsToBuy" },
];

/** Visitors who buy about 3% of the time, one payment in ten with a failing token. */
const shoppers = { LOADTEST_CONVERSION: "0.03", LOADTEST_FAILING_SHARE: "0.1" };

/**
 * The drop's second case: 120 units in orders of 1 to 4, 600 people, a sellout, then 30 units more by
 * stock take 3 s after it, while the line waits.
 */
const RESTOCK_CASE = {
  units: 120,
  maxPerOrder: 4,
  admitPerMinute: 600,
  startsInSeconds: 15,
  people: Number(process.env.RESTOCK_PEOPLE ?? 600),
  lateShare: 0.2,
  restockUnits: 30,
  restockAfterSeconds: 3,
};

/**
 * The chaos runtime: faults may be injected (docs/chaos.md); payment retries spread over about 20 s
 * (1 s doubling to 4 s) rather than the other scenarios' second, so that a gateway outage of a few
 * seconds does not use up an order's attempts, as it would not in production (2 s doubling to 5 min);
 * holds of 60 s (production: 15 min) rather than the crash's 15 s, so that an order whose payment a
 * fault delays is not failed for that alone, while holds of checkouts cut off by a kill still expire
 * within the drain.
 */
const CHAOS_BINDINGS = {
  FAULT_INJECTION: "true",
  HOLD_TTL_SECONDS: "60",
  PAYMENT_RETRY_BASE_SECONDS: "1",
  PAYMENT_RETRY_MAX_DELAY_SECONDS: "4",
};

/** The draw scenario's product, entrants and deadlines (see `draw` below). */
const DRAW_SETTINGS = {
  sizes: [40, 41, 42, 43],
  sizeShares: [0.4, 0.35, 0.249, 0.001],
  stock: 120,
  units: 100,
  price: 18_000,
  entrants: 50_000,
  connections: 48,
  calibrateSeconds: 8,
  drawDeadlineSeconds: 1800,
  sweepDeadlineSeconds: 1800,
};

export const scenarios = {
  browse: {
    description: "catalog list, product and inventory reads with Zipf-like popularity",
    flow: [{ function: "newClient" }, ...browse],
    steps: [50, 100, 200, 400, 800, 1600, 3200],
  },
  "flash-sale": {
    description: `thousands of buyers on ${FLASH_SALE.sku} (${FLASH_SALE.stock} units), retrying like real clients`,
    flow: flashSale,
    steps: [25, 50, 100, 200, 400, 800, 1600, 3200],
  },
  funnel: {
    description: "browse to buy at about 3% conversion, 10% of payments with failing tokens",
    flow: funnel,
    steps: [50, 100, 200, 400, 800, 1600, 3200],
    env: shoppers,
  },
  spike: {
    description: "the funnel at a steady baseline, then 10x for a minute, then back",
    flow: funnel,
    phases: [
      { name: "baseline", rate: 40, seconds: 30 },
      { name: "10x spike", rate: 400, seconds: 60 },
      { name: "recovery", rate: 40, seconds: 30 },
    ],
    env: shoppers,
  },
  crash: {
    description:
      "a flash sale during which the runtime is killed outright, restarted on the same state, and drained",
    flow: flashSale,
    crash: { rate: 50, seconds: 30, killAfterSeconds: 8, stock: 1000 },
    env: { LOADTEST_FAILING_SHARE: "0.1" },
  },
  chaos: {
    description:
      "a sale of a hot SKU and a SKU limited per customer, with buyers retrying as real clients do, while a " +
      "seeded nemesis kills the runtime, locks D1, breaks the payment gateway and drops or delays queue " +
      "deliveries; then settled and audited (docs/chaos.md)",
    chaos: {
      rate: 22,
      seconds: 80,
      faults: 6,
      warmSeconds: 5,
      quietSeconds: 8,
      stock: 700,
      limited: { stock: 150, maxPerCustomer: 2 },
      crowd: { limitedShare: 0.25, customers: 50, failingShare: 0.1 },
    },
    bindings: CHAOS_BINDINGS,
  },
  "chaos-short": {
    description: "the chaos scenario in about a minute, four faults (one of each family), for CI",
    chaos: {
      rate: 25,
      seconds: 45,
      faults: 4,
      warmSeconds: 4,
      quietSeconds: 5,
      stock: 550,
      limited: { stock: 100, maxPerCustomer: 2 },
      crowd: { limitedShare: 0.25, customers: 40, failingShare: 0.1 },
    },
    bindings: CHAOS_BINDINGS,
  },
  "d1-outage": {
    description:
      "a flash sale during which D1 refuses every write for 15 s (its file locked), then recovers; drained",
    flow: flashSale,
    outage: { rate: 50, seconds: 30, afterSeconds: 8, forSeconds: 15, stock: 1000 },
    env: { LOADTEST_FAILING_SHARE: "0.1" },
  },
  operator: {
    description: `a flash sale on ${FLASH_SALE.sku} split over 4 buckets while the operator restocks, removes units and rebalances; drained`,
    flow: flashSale,
    operator: {
      rate: 20,
      seconds: 30,
      stock: 400,
      buckets: 4,
      actions: [
        { atSeconds: 4, label: "rebalance", method: "POST", path: "rebalance" },
        {
          atSeconds: 7,
          label: "restock +60",
          method: "POST",
          path: "adjustments",
          body: { delta: 60, reason: "delivery" },
        },
        { atSeconds: 10, label: "rebalance", method: "POST", path: "rebalance" },
        {
          atSeconds: 13,
          label: "remove 25",
          method: "POST",
          path: "adjustments",
          body: { delta: -25, reason: "damaged" },
        },
        { atSeconds: 16, label: "rebalance", method: "POST", path: "rebalance" },
        {
          atSeconds: 20,
          label: "restock +40",
          method: "POST",
          path: "adjustments",
          body: { delta: 40, reason: "delivery" },
        },
        { atSeconds: 24, label: "rebalance", method: "POST", path: "rebalance" },
      ],
    },
  },
  paced: {
    description: `a flash sale of 600 ${FLASH_SALE.sku} with the gateway held to 20 charges/s (PAYMENT_GATEWAY_RPS), as Stripe's limit would; drained`,
    flow: flashSale,
    stock: 600,
    bindings: { PAYMENT_GATEWAY_RPS: "20" },
    phases: [{ name: "rush", rate: 60, seconds: 12 }],
  },
  drop: {
    description:
      "a limited drop of 500 units, one per customer, through its waiting room: 20,000 people " +
      "(a tenth under 2-4 spellings of one Gmail address, 3% under unrelated addresses with one card) " +
      "arriving over 40 s with a burst in the last 8 s before the start and more after it; then the " +
      "limits, nobody left waiting, and fairness by arrival",
    drop: {
      units: 500,
      startsInSeconds: 40,
      admitPerMinute: 900,
      prequeueSeconds: 5,
      crowd: {
        people: Number(process.env.DROP_PEOPLE ?? 20_000),
        aliasShare: 0.1,
        cardShare: 0.03,
        declineShare: 0.05,
        early: 0.45,
        burst: 0.35,
        burstSeconds: 8,
        lateSeconds: 20,
      },
    },
    restock: RESTOCK_CASE,
  },
  promo: {
    description:
      "a discount code capped at 100 uses, one per customer, raced for by 5,000 buyers at once on a " +
      "SKU with plenty of stock (a fifth of them one person under 2-4 spellings of a Gmail address); " +
      "then exactly 100 paid orders carry the code, nobody past their cap, nobody charged and refunded",
    promo: {
      units: 20_000,
      uses: 100,
      buckets: 4,
      crowd: { buyers: Number(process.env.PROMO_BUYERS ?? 5_000), connections: 100, aliasShare: 0.2 },
    },
  },
  "drop-restock": {
    description:
      "the drop's second case alone: orders of several units, a sellout, a restock by stock take while the line waits; then the room's cap and its re-admission, from the harness's own books",
    restock: RESTOCK_CASE,
  },
  draw: {
    description:
      "a product in 4 sizes sold by draw (100 units a size; the last size rare, so its list runs out): " +
      "50,000 entrants (--entrants N) enter at bounded concurrency, a tenth twice under another spelling " +
      "of their Gmail address, 2% with another entrant's card, 3% declined, 2% with a card whose capture " +
      "fails; then the close, the reveal, the captures and the cancels, and the audit: answers, list, " +
      "winners, holds, stock, paid orders, the public verifier, fairness by entry time",
    draw: DRAW_SETTINGS,
    // The seed is revealed 5 s after the close rather than 30: entrants here take no receipts first.
    bindings: { DRAW_REVEAL_SECONDS: "5" },
  },
  "draw-kill": {
    description:
      "the draw scenario (--entrants N; 50,000 unless told) with the runtime killed outright and restarted " +
      "on the same state while entrants enter, at the close, in the walk (the gateway losing the answers " +
      "of captures just before) and while the losers' holds are cancelled; then the same audit",
    draw: { ...DRAW_SETTINGS, kill: true },
    bindings: { DRAW_REVEAL_SECONDS: "5", FAULT_INJECTION: "true" },
  },
  smoke: {
    description: "a short flash sale that ends in the audit (CI)",
    flow: flashSale,
    phases: [
      { name: "warm", rate: 20, seconds: 10 },
      { name: "rush", rate: 80, seconds: 15 },
    ],
  },
};
