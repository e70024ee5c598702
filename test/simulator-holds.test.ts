import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SimulatedGateway } from "../src/payments/simulated.gateway";
import { admin, call, unique } from "./helpers";

type Page = {
  authorizations: { id: string; idempotencyKey: string; status: string }[];
  nextCursor: string | null;
};

const gateway = new SimulatedGateway(env.SIMULATOR.getByName("simulator"));

describe("the simulator's holds, listed for audits", () => {
  it("lists every hold, a page at a time, with the status it stands at", async () => {
    const keys: string[] = [];
    for (const token of ["tok_ok.card_h1", "tok_declined.card_h2", "tok_ok.card_h3"]) {
      const owner = unique("entry");
      keys.push(`hold-${owner}`);
      await gateway.authorize({
        orderId: owner,
        idempotencyKey: `hold-${owner}`,
        amount: { amount: 2500, currency: "USD" },
        token,
      });
    }
    const seen = new Map<string, string>();
    let pages = 0;
    for (let after: string | null = null; ; pages++) {
      const query: string = `limit=2${after ? `&after=${after}` : ""}`;
      const response = await admin("GET", `/v1/admin/simulator/authorizations?${query}`);
      expect(response.status).toBe(200);
      const page = await response.json<Page>();
      expect(page.authorizations.length).toBeLessThanOrEqual(2);
      for (const hold of page.authorizations) seen.set(hold.idempotencyKey, hold.status);
      if (!page.nextCursor) break;
      after = page.nextCursor;
    }
    expect(pages).toBeGreaterThan(0);
    expect(keys.map((key) => seen.get(key))).toEqual(["authorized", "failed", "authorized"]);
  });

  it("lists only the holds in a status when asked, to wait until none is left live", async () => {
    const owner = unique("entry");
    const ref = {
      orderId: owner,
      idempotencyKey: `hold-${owner}`,
      amount: { amount: 2500, currency: "USD" },
    };
    await gateway.authorize({ ...ref, token: "tok_ok.card_h4" });
    const live = async () => {
      const response = await admin("GET", "/v1/admin/simulator/authorizations?status=authorized");
      const page = await response.json<Page>();
      expect(page.authorizations.every((hold) => hold.status === "authorized")).toBe(true);
      return page.authorizations.some((hold) => hold.idempotencyKey === ref.idempotencyKey);
    };
    expect(await live()).toBe(true);
    await gateway.cancelAuthorization({ ...ref, token: "tok_ok.card_h4", intentId: null });
    expect(await live()).toBe(false);
  });

  it("answers only the admin", async () => {
    const response = await call("/v1/admin/simulator/authorizations");
    expect(response.status).toBe(401);
  });
});
