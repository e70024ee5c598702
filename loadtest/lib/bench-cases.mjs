// The hot paths `npm run bench` measures and `npm run profile` samples, and the catalog they need.
export const ADMIN_TOKEN = "bench-admin-token";
const SPREAD_SKUS = 40;
const UNLIMITED = 1_000_000_000;

/** Products and stock for every case: two hot SKUs (one object, four buckets), one sold out, a spread. */
export async function setUp(api) {
  const variant = (sku) => ({ sku, title: sku, price: { amount: 4999, currency: "USD" }, attributes: {} });
  await api.call("POST", "/v1/admin/products", {
    slug: "bench-sneaker",
    title: "Bench Sneaker",
    category: "bench",
    variants: ["HOT-ONE", "HOT-FOUR", "GONE"].map(variant),
  });
  await api.call("POST", "/v1/admin/products", {
    slug: "bench-spread",
    title: "Bench Spread",
    category: "bench",
    variants: Array.from({ length: SPREAD_SKUS }, (_, i) => variant(`SPREAD-${i}`)),
  });
  // A drop whose waiting room opens tomorrow: joining and asking one's place, as its crowd does.
  const drop = await api.call("POST", "/v1/admin/products", {
    slug: "bench-drop",
    title: "Bench Drop",
    category: "bench",
    saleStartsAt: new Date(Date.now() + 86_400_000).toISOString(),
    waitingRoom: { admitPerMinute: 600 },
    variants: [variant("DROP")],
  });
  dropTicket = (await joinDrop(api.baseUrl, "bench-drop@example.com")).ticket;
  if (!drop.id || !dropTicket) throw new Error("the bench drop could not be joined");
  await api.call("PUT", "/v1/admin/inventory/HOT-ONE", { onHand: UNLIMITED });
  await api.call("PUT", "/v1/admin/inventory/HOT-FOUR", { onHand: UNLIMITED, buckets: 4 });
  await api.call("PUT", "/v1/admin/inventory/GONE", { onHand: 0 });
  for (let i = 0; i < SPREAD_SKUS; i++)
    await api.call("PUT", `/v1/admin/inventory/SPREAD-${i}`, { onHand: UNLIMITED });
  // A discount code with a cap (a use held with each order's stock), for what a code adds to a checkout:
  // split over 4 buckets (the default for a large cap), and the same as one object, to compare.
  await api.call("POST", "/v1/admin/discounts", {
    code: "BENCH10",
    kind: "percentage",
    value: 10,
    maxUses: 1_000_000,
  });
  await api.call("POST", "/v1/admin/discounts", {
    code: "BENCH10ONE",
    kind: "percentage",
    value: 10,
    maxUses: 1_000_000,
    buckets: 1,
  });
}

let dropTicket = "";

function joinDrop(url, email) {
  return fetch(`${url}/v1/drops/bench-drop/tickets`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email }),
  }).then((response) => response.json());
}

/** A checkout as a storefront sends it: its own client address and a fresh Idempotency-Key. */
const checkout =
  (pickSku, extra = {}) =>
  (i) => ({
    method: "POST",
    path: "/v1/checkout",
    headers: {
      "Content-Type": "application/json",
      "Idempotency-Key": crypto.randomUUID(),
      "CF-Connecting-IP": `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    },
    body: JSON.stringify({
      items: [{ sku: pickSku(i), quantity: 1 }],
      customer: { email: "bench@example.com" },
      payment: { token: "tok_ok" },
      ...extra,
    }),
  });

export const cases = [
  { id: "catalog", name: "catalog read (hot product)", path: "/v1/products/bench-sneaker", expect: 200 },
  { id: "hot-one", name: "checkout, hot SKU, one object", request: checkout(() => "HOT-ONE"), expect: 202 },
  { id: "hot-four", name: "checkout, hot SKU, 4 buckets", request: checkout(() => "HOT-FOUR"), expect: 202 },
  { id: "sold-out", name: "checkout, sold-out fast path", request: checkout(() => "GONE"), expect: 409 },
  {
    id: "hot-code",
    name: "checkout, hot SKU, 4 buckets, with a capped code in 4 buckets",
    request: checkout(() => "HOT-FOUR", { discountCode: "BENCH10" }),
    expect: 202,
  },
  {
    id: "hot-code-one",
    name: "checkout, hot SKU, 4 buckets, with a capped code in one object",
    request: checkout(() => "HOT-FOUR", { discountCode: "BENCH10ONE" }),
    expect: 202,
  },
  {
    id: "drop-join",
    name: "drop: join the waiting room",
    path: "/v1/drops/bench-drop/tickets",
    request: (i) => ({
      method: "POST",
      path: "/v1/drops/bench-drop/tickets",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: `crowd-${i}-${Math.random().toString(36).slice(2)}@example.com` }),
    }),
    expect: 201,
  },
  {
    id: "drop-status",
    name: "drop: ask one's place",
    path: "/v1/drops/bench-drop/status",
    request: () => ({
      method: "GET",
      path: "/v1/drops/bench-drop/status",
      headers: { Authorization: `Bearer ${dropTicket}` },
    }),
    expect: 200,
  },
  {
    id: "spread",
    name: `checkout spread over ${SPREAD_SKUS} SKUs`,
    request: checkout((i) => `SPREAD-${i % SPREAD_SKUS}`),
    expect: 202,
  },
];

/** One refused checkout teaches the location that GONE is sold out. */
export async function learnSoldOut(url) {
  const refused = checkout(() => "GONE")(0);
  await fetch(url + refused.path, refused);
}
