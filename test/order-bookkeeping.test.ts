import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Mailer } from "../src/email/mailer.do";
import { OutboxStore } from "../src/orders/shard/outbox.store";
import {
  type Accepted,
  breakMethod,
  checkoutBody,
  postCheckout,
  settledOrder,
  settleShards,
  stockedSku,
  unique,
} from "./helpers";

/** The order shard's own tables: what an order's bookkeeping writes there is counted by table. */
const SHARD_TABLES = [
  "keys",
  "orders",
  "timeline",
  "webhook_outbox",
  "mail_outbox",
  "outbox_cursors",
  "releases",
] as const;

type Tally = Record<string, { statements: number; bytes: number }>;

/**
 * Counts every SQL statement that writes (INSERT, UPDATE, DELETE) to one of the shard's tables while
 * `work` runs, with the bytes of its text parameters (what it stores, roughly), by statement and table.
 */
async function countWrites(work: () => Promise<void>): Promise<Tally> {
  const sql = await runInDurableObject(
    env.ORDERS.getByName(unique("probe")),
    (_, state) => state.storage.sql,
  );
  const prototype = Object.getPrototypeOf(sql) as { exec: (...args: unknown[]) => unknown };
  const exec = prototype.exec;
  const tally: Tally = {};
  const restore = breakMethod(prototype, "exec", function (this: unknown, ...args: unknown[]) {
    const [query, ...params] = args as [string, ...unknown[]];
    const match = /^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)/i.exec(query);
    const table = match?.[2] ?? "";
    if (match && (SHARD_TABLES as readonly string[]).includes(table)) {
      const key = `${match[1]?.split(" ")[0]?.toUpperCase()} ${table}`;
      const entry = tally[key] ?? { statements: 0, bytes: 0 };
      entry.statements++;
      entry.bytes += params.reduce<number>((sum, p) => sum + (typeof p === "string" ? p.length : 8), 0);
      tally[key] = entry;
    }
    return exec.apply(this, args);
  });
  try {
    await work();
  } finally {
    restore();
  }
  return tally;
}

describe("what an order's bookkeeping writes, counted", () => {
  it("writes each order's events once for webhooks and emails, and no timeline row for its creation", async () => {
    const sku = await stockedSku(1000);
    const orders = 12;
    const take = Mailer.prototype.take;
    const taken = { emails: 0 };
    const restoreTake = breakMethod(Mailer.prototype, "take", function (this: unknown, ...args: unknown[]) {
      taken.emails += (args[0] as unknown[]).length;
      return take.apply(this as never, args as never);
    });
    const tally = await countWrites(async () => {
      const answers = await Promise.all(
        Array.from({ length: orders }, () => postCheckout(checkoutBody([{ sku, quantity: 1 }]))),
      );
      expect(answers.map((answer) => answer.status)).toEqual(Array(orders).fill(202));
      const accepted = await Promise.all(answers.map((answer) => answer.json<Accepted>()));
      for (const { orderId, orderToken } of accepted) {
        expect((await settledOrder(orderId, orderToken)).status).toBe("paid");
      }
      // Projected to D1 and both outboxes handed on.
      await settleShards();
    });
    restoreTake();
    const per = (key: string) => (tally[key]?.statements ?? 0) / orders;
    console.log(
      JSON.stringify(
        Object.fromEntries(
          Object.entries(tally).map(([key, { statements, bytes }]) => [
            key,
            { perOrder: statements / orders, bytesPerOrder: Math.round(bytes / orders) },
          ]),
        ),
      ),
    );
    // Two events per paid order (created, paid), each written once and handed to both receivers.
    expect(per("INSERT webhook_outbox") + per("INSERT mail_outbox")).toBe(2);
    // The timeline's rows: the payment attempt and the payment; "created" is the order's own createdAt.
    expect(per("INSERT timeline")).toBe(2);
    expect(per("INSERT orders")).toBe(1);
    // And each handed to the mailers once: every event is emailed.
    expect(taken.emails).toBe(2 * orders);
  }, 60_000);

  it("moves a shard's mail copies from before the one outbox below the webhooks' cursor: each handed to its receiver", async () => {
    await runInDurableObject(env.ORDERS.getByName(unique("legacy-outbox")), (_, state) => {
      const { sql } = state.storage;
      // The outbox as a shard kept it before: a copy of each event for the mailer, with its token.
      sql.exec("DROP TABLE outbox_cursors");
      sql.exec("DROP TABLE webhook_outbox");
      sql.exec("CREATE TABLE webhook_outbox (seq INTEGER PRIMARY KEY, event TEXT NOT NULL)");
      sql.exec("CREATE TABLE mail_outbox (seq INTEGER PRIMARY KEY, event TEXT NOT NULL, token TEXT)");
      sql.exec("INSERT INTO webhook_outbox (seq, event) VALUES (7, 'created'), (8, 'paid')");
      sql.exec("INSERT INTO mail_outbox (seq, event, token) VALUES (3, 'created', 'tok'), (4, 'paid', NULL)");
      const outbox = new OutboxStore(sql);
      state.storage.transactionSync(() => outbox.create());
      const events = (name: "webhook_outbox" | "mail_outbox") =>
        outbox.pending(10, name).map(({ event, token }) => [event, token]);
      expect(events("webhook_outbox")).toEqual([
        ["created", null],
        ["paid", null],
      ]);
      // The copies first (the token with them), then the events again: the mailer keeps one per id.
      expect(events("mail_outbox")).toEqual([
        ["created", "tok"],
        ["paid", null],
        ["created", null],
        ["paid", null],
      ]);
      // Created once: a second start changes nothing.
      state.storage.transactionSync(() => outbox.create());
      expect(events("mail_outbox")).toHaveLength(4);
      // A row goes once both receivers were handed it.
      const last = outbox.pending(10, "mail_outbox").at(-1)?.seq ?? 0;
      outbox.handedUpTo(last, "mail_outbox");
      expect(events("mail_outbox")).toEqual([]);
      expect(events("webhook_outbox")).toHaveLength(2);
      outbox.handedUpTo(outbox.pending(10).at(-1)?.seq ?? 0);
      expect(sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM webhook_outbox").one().n).toBe(0);
    });
  });
});
