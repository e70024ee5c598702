import { adminClient } from "./lib/api.mjs";
import { drive } from "./lib/drive.mjs";
import { startStampede } from "./lib/harness.mjs";

const s = await startStampede({ bindings: { ADMIN_TOKEN: "t", SOLD_OUT_TTL_SECONDS: "300" } });
const api = adminClient(s.url, "t");
await api.call("POST", "/v1/admin/products", {
  slug: "x",
  title: "X",
  category: "c",
  variants: [{ sku: "GONE", title: "g", price: { amount: 1, currency: "USD" }, attributes: {} }],
});
await api.call("PUT", "/v1/admin/inventory/GONE", { onHand: 0 });
const req = (i) => ({
  method: "POST",
  path: "/v1/checkout",
  headers: {
    "Content-Type": "application/json",
    "Idempotency-Key": crypto.randomUUID(),
    "CF-Connecting-IP": `10.0.${(i >> 8) & 255}.${i & 255}`,
  },
  body: JSON.stringify({
    items: [{ sku: "GONE", quantity: 1 }],
    customer: { email: "a@b.co" },
    payment: { token: "tok_ok" },
  }),
});
await fetch(s.url + "/v1/checkout", req(0));
for (const path of ["/v1/nowhere"]) console.log(path, (await drive({ url: s.url + path, seconds: 4 })).rps);
console.log(
  "soldout",
  JSON.stringify(await drive({ url: s.url + "/v1/checkout", request: req, seconds: 5 })),
);
await s.stop();
