import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { OutgoingEmail } from "../src/email/mail.store";
import { shardOfOrder } from "../src/orders/shards";
import { adminOrder, fulfil, paidOrder, refund, refundsSettle, simulator } from "./after-sale.helpers";
import {
  type Accepted,
  ADMIN,
  admin,
  call,
  chargesFor,
  checkoutBody,
  patchShardRow,
  postCheckout,
  settledOrder,
  settleShards,
  shardOf,
  shardRow,
  stockedSku,
  stockOf,
} from "./helpers";

const csv = (text: string, dryRun = false) =>
  call(`/v1/admin/fulfillments/import?dryRun=${dryRun}`, {
    method: "POST",
    headers: { ...ADMIN, "Content-Type": "text/csv" },
    body: text,
  });

type ImportReport = {
  made: number;
  replayed: number;
  wouldMake: number;
  rows: { row: number; orderId: string; outcome: string; detail?: string }[];
};

describe("the mailer", () => {
  it("drops a malformed email and keeps the rest of a hand-over", async () => {
    const { accepted } = await paidOrder([{ quantity: 1 }]);
    const mailer = env.MAILER.getByName(`mail-${shardOfOrder(env, accepted.orderId) ?? 0}`);
    const good: OutgoingEmail = {
      id: `0.evt_${Date.now()}`,
      to: "buyer@example.com",
      from: "orders@stampede.localhost",
      subject: "Hello",
      text: "Hello",
      html: "<p>Hello</p>",
      orderId: accepted.orderId,
      event: "order.paid",
    };
    expect(await mailer.take([{ ...good, to: "not an address", id: "0.bad" }, good])).toBe(1);
    expect(await mailer.get(good.id)).toMatchObject({ status: "queued" });
  });
});

describe("refunds under faults (found by review)", () => {
  it("announces a full refund once, though the gateway reports it before it answers", async () => {
    const { accepted } = await paidOrder([{ quantity: 1 }]);
    expect((await refund(accepted.orderId, { restock: false })).status).toBe(201);
    const order = await refundsSettle(accepted.orderId);
    expect(order.payment.status).toBe("refunded");
    expect(order.timeline?.filter((entry) => entry.event === "refunded")).toHaveLength(1);
    await settleShards();
    const emails = await (await admin("GET", `/v1/admin/emails?orderId=${accepted.orderId}`)).json<{
      items: { event: string }[];
    }>();
    expect(emails.items.filter((email) => email.event === "order.refunded")).toHaveLength(1);
  });

  it("leaves a paid order uncancelled when the gateway refuses its cancel's refund, and cancels it anew", async () => {
    const { skus, accepted } = await paidOrder([{ quantity: 2 }]);
    await simulator().breakRefunds(1, "before");
    const first = await admin("POST", `/v1/admin/orders/${accepted.orderId}/cancel`);
    expect(first.status).toBe(200);
    expect(await first.json()).not.toHaveProperty("cancelledAt");
    // While the cancel's refund is on its way, nothing ships.
    expect((await fulfil(accepted.orderId, { carrier: "UPS", trackingNumber: "1ZC" })).status).toBe(409);
    // Meanwhile a cent is refunded elsewhere: the cancel's refund of the whole charge is refused.
    const [charge] = await chargesFor(accepted.orderId);
    await simulator().refund(charge?.id ?? "", "dashboard-cent", 1);
    const refused = await refundsSettle(accepted.orderId);
    expect(refused.refunds).toEqual([expect.objectContaining({ cancel: true, status: "failed" })]);
    expect(refused).not.toHaveProperty("cancelledAt");
    expect(await stockOf(skus[0] as string)).toMatchObject({ committed: 2 });

    // The shop cancels again: a new refund of what is left, every unit back.
    const again = await admin("POST", `/v1/admin/orders/${accepted.orderId}/cancel`);
    expect(again.status).toBe(200);
    const order = await refundsSettle(accepted.orderId);
    expect(order).toMatchObject({ cancelledAt: expect.any(String) });
    expect(order.refunds.filter((made) => made.status === "succeeded")).toEqual([
      expect.objectContaining({ cancel: true, restocked: true }),
    ]);
    expect(await stockOf(skus[0] as string)).toMatchObject({ committed: 0, onHand: 10 });
    expect((await chargesFor(accepted.orderId))[0]).toMatchObject({ status: "refunded" });
  });

  it("backs off a refund the gateway keeps failing, rather than asking every second", async () => {
    const { accepted } = await paidOrder([{ quantity: 1 }]);
    await simulator().breakRefunds(1000, "before");
    try {
      expect((await refund(accepted.orderId, { restock: false })).status).toBe(201);
      for (let round = 0; round < 4; round++) {
        await patchShardRow(accepted.orderId, "due_at = 1");
        await settleShards(1);
      }
      const row = await shardRow(accepted.orderId);
      expect(Number(row?.due_attempts)).toBeGreaterThanOrEqual(4);
      expect(Number(row?.due_at)).toBeGreaterThan(Date.now() + 4000);
    } finally {
      await simulator().breakRefunds(0, "before");
    }
    await patchShardRow(accepted.orderId, "due_at = 1");
    expect((await refundsSettle(accepted.orderId)).payment.status).toBe("refunded");
  });

  it("refuses a zero refund, and restock by amount without lines, as invalid input", async () => {
    const { accepted } = await paidOrder([{ quantity: 1 }]);
    const zero = await refund(accepted.orderId, { amount: { amount: 0, currency: "USD" }, restock: false });
    expect(zero.status).toBe(400);
    const vague = await refund(accepted.orderId, { amount: { amount: 100, currency: "USD" }, restock: true });
    expect(vague.status).toBe(400);
    expect((await adminOrder(accepted.orderId)).refunds).toEqual([]);
  });
});

describe("fulfilment files", () => {
  it("takes a parcel written one row per line as one fulfilment, and refuses a tracking number reused for other lines", async () => {
    const { skus, accepted } = await paidOrder([{ quantity: 1 }, { quantity: 2 }]);
    const [a, b] = skus as [string, string];
    const file = `order_id,lines,carrier,tracking_number\n${accepted.orderId},${a}:1,DHL,P-1\n${accepted.orderId},${b}:2,DHL,P-1\n`;
    const response = await csv(file);
    expect(response.status).toBe(200);
    // Both rows answer for the one parcel they make.
    expect(await response.json()).toMatchObject({ made: 2, replayed: 0 });
    const order = await adminOrder(accepted.orderId);
    expect(order.fulfillmentStatus).toBe("fulfilled");
    expect(order.fulfillments).toHaveLength(1);
    const reused = await fulfil(accepted.orderId, {
      lines: [{ sku: a, quantity: 1 }],
      carrier: "DHL",
      trackingNumber: "P-1",
    });
    expect(reused.status).toBe(409);
  });

  it("lists every bad row at once, quantities beyond a line included, and writes nothing", async () => {
    const { skus, accepted } = await paidOrder([{ quantity: 1 }]);
    const sku = skus[0] as string;
    const file = [
      "order_id,lines,carrier,tracking_number,tracking_url",
      `${accepted.orderId},${sku}:1,DHL,OK-1,https://track.example/1`,
      `${accepted.orderId},${sku}:9999999,DHL,BAD-1,`,
      `01JD3Q8Z9N0Y4W6B7C2D5E8F1G-9999,all,DHL,BAD-2,`,
      `${accepted.orderId},all,,BAD-3,javascript:alert(1)`,
    ].join("\n");
    const response = await csv(file);
    expect(response.status).toBe(422);
    const body = await response.json<{ code: string; rows: ImportReport["rows"] }>();
    expect(body.code).toBe("fulfillment_import_invalid");
    expect(body.rows.map((row) => [row.row, row.outcome])).toEqual([
      [3, "invalid"],
      [4, "not_found"],
      [5, "invalid"],
    ]);
    expect((await adminOrder(accepted.orderId)).fulfillments).toEqual([]);
  });

  it("writes a shard's rows all or nothing when an order changed between the check and the write", async () => {
    const first = await paidOrder([{ quantity: 1 }]);
    const shard = shardOf(first.accepted.orderId);
    const row = (n: number, trackingNumber: string) => ({
      row: n,
      orderId: first.accepted.orderId,
      carrier: "DHL",
      trackingNumber,
    });
    // The second row ships what the first already shipped: refused at the write, so the first is undone.
    const results = await shard.fulfilMany([row(2, "T-1"), row(3, "T-2")], true);
    expect(results.map((result) => result.outcome)).toEqual(["rolled_back", "refused"]);
    expect((await adminOrder(first.accepted.orderId)).fulfillments).toEqual([]);
  });

  it("applies 5,000 fulfilments, and applying the file again changes nothing", {
    timeout: 240_000,
  }, async () => {
    // 100 paid orders of the same 50 SKUs: one row per line, each its own parcel.
    const skus = await Promise.all(Array.from({ length: 50 }, () => stockedSku(100)));
    const orders: { accepted: Accepted }[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const placed = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const response = await postCheckout(checkoutBody(skus.map((sku) => ({ sku, quantity: 1 }))));
          expect(response.status).toBe(202);
          return { accepted: await response.json<Accepted>() };
        }),
      );
      orders.push(...placed);
    }
    for (const { accepted } of orders) {
      expect((await settledOrder(accepted.orderId, accepted.orderToken, 60_000)).status).toBe("paid");
    }
    const lines = orders.flatMap(({ accepted }) =>
      skus.map((sku, i) => `${accepted.orderId},${sku}:1,UPS,1Z${accepted.orderId.slice(0, 10)}${i},`),
    );
    expect(lines).toHaveLength(5000);
    const file = `order_id,lines,carrier,tracking_number,tracking_url\n${lines.join("\n")}\n`;
    const checked = await csv(file, true);
    expect(checked.status).toBe(200);
    expect(await checked.json()).toMatchObject({ wouldMake: 5000, made: 0 });
    const applied = await (await csv(file)).json<ImportReport>();
    expect(applied).toMatchObject({ made: 5000, replayed: 0 });
    const versions = await Promise.all(
      orders.slice(0, 5).map(async ({ accepted }) => (await shardRow(accepted.orderId))?.version),
    );
    const again = await (await csv(file)).json<ImportReport>();
    expect(again).toMatchObject({ made: 0, replayed: 5000 });
    expect(
      await Promise.all(
        orders.slice(0, 5).map(async ({ accepted }) => (await shardRow(accepted.orderId))?.version),
      ),
    ).toEqual(versions);
    for (const { accepted } of orders.slice(0, 3)) {
      const order = await adminOrder(accepted.orderId);
      expect(order.fulfillmentStatus).toBe("fulfilled");
      expect(order.fulfillments).toHaveLength(50);
    }
  });
});
