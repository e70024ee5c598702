import { createStampedeClient, newIdempotencyKey } from "@stampede/client";

const shop = createStampedeClient({ baseUrl: "http://localhost:8787" });

// One key per purchase attempt: retrying with the same key never places a second order.
const { data: accepted, error } = await shop.POST("/v1/checkout", {
  params: { header: { "idempotency-key": newIdempotencyKey() } },
  body: {
    items: [{ sku: "APP-01-1", quantity: 1 }],
    customer: { email: "ada@example.com", name: "Ada" },
    shippingAddress: { line1: "1 Market Street", city: "Springfield", postalCode: "12345", country: "US" },
    payment: { token: "tok_ok" }, // the simulator's card that pays
  },
});
if (error) throw new Error(`${error.code}: ${error.detail ?? error.title}`);

// The order is readable with the token checkout returned, and by no one else.
const buyer = createStampedeClient({ baseUrl: "http://localhost:8787", token: accepted.orderToken });
let order = (await buyer.GET("/v1/orders/{id}", { params: { path: { id: accepted.orderId } } })).data;
while (order?.status === "pending_payment") {
  await new Promise((resolve) => setTimeout(resolve, 250));
  order = (await buyer.GET("/v1/orders/{id}", { params: { path: { id: accepted.orderId } } })).data;
}
console.log(order?.status); // "paid"
