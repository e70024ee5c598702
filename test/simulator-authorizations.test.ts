import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AuthorizationRef } from "../src/payments/gateway";
import { SimulatedGateway } from "../src/payments/simulated.gateway";
import { AUTHORIZATION_LIFETIME_MS, AuthorizationStore } from "../src/payments/simulator.authorizations";
import { unique } from "./helpers";

// An object of its own, so the fault switch thrown here never reaches another file's payments.
const simulator = env.SIMULATOR.getByName("simulator-authorizations");
const gateway = new SimulatedGateway(simulator);

function hold(token: string, amount = 2500): AuthorizationRef {
  const owner = unique("entry");
  return {
    orderId: owner,
    idempotencyKey: `hold-${owner}`,
    amount: { amount, currency: "USD" },
    token,
    intentId: null,
  };
}

async function ledgerOf(ref: AuthorizationRef) {
  const charges = await simulator.charges(ref.orderId);
  const listed = (await simulator.authorizations()).filter((a) => a.idempotencyKey === ref.idempotencyKey);
  return { charges, listed };
}

describe("simulated authorizations", () => {
  it("authorizes without charging, then a capture charges once and a repeat answers the same charge", async () => {
    const ref = hold("tok_ok.card_alpha");
    const authorized = await gateway.authorize(ref);
    expect(authorized).toMatchObject({ status: "authorized" });
    if (authorized.status !== "authorized") return;
    const lifetime = Date.parse(authorized.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(AUTHORIZATION_LIFETIME_MS - 60_000);
    expect(lifetime).toBeLessThanOrEqual(AUTHORIZATION_LIFETIME_MS);
    expect((await ledgerOf(ref)).charges).toEqual([]);
    expect(await gateway.authorize(ref)).toEqual(authorized);

    const first = await gateway.capture(ref);
    expect(first).toMatchObject({ status: "succeeded" });
    expect(await gateway.capture(ref)).toEqual(first);
    const { charges, listed } = await ledgerOf(ref);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({
      amount: { amount: 2500, currency: "USD" },
      idempotencyKey: ref.idempotencyKey,
    });
    expect(first.status === "succeeded" && first.chargeId).toBe(charges[0]?.id);
    expect(listed).toEqual([
      expect.objectContaining({ status: "captured", captures: 1, capturedAt: expect.any(String) }),
    ]);
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({
      status: "captured",
      chargeId: charges[0]?.id,
    });
  });

  it("a captured hold's charge can be refunded like any charge", async () => {
    const ref = hold("tok_ok");
    await gateway.authorize(ref);
    const captured = await gateway.capture(ref);
    if (captured.status !== "succeeded") throw new Error(`capture ${captured.status}`);
    expect(await gateway.refund(captured.chargeId, `refund-${ref.orderId}`)).toMatchObject({
      status: "succeeded",
      chargeRefunded: 2500,
    });
  });

  it("cancel releases the hold, and a later capture fails without charging", async () => {
    const ref = hold("tok_ok");
    await gateway.authorize(ref);
    expect(await gateway.cancelAuthorization(ref)).toMatchObject({ status: "cancelled", expired: false });
    expect(await gateway.cancelAuthorization(ref)).toMatchObject({ status: "cancelled", expired: false });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed", reason: "authorization_cancelled" });
    const { charges, listed } = await ledgerOf(ref);
    expect(charges).toEqual([]);
    expect(listed).toEqual([
      expect.objectContaining({ status: "cancelled", captures: 0, cancelledAt: expect.any(String) }),
    ]);
  });

  it("a cancel before any authorize leaves nothing to place under the key", async () => {
    const ref = hold("tok_ok");
    expect(await gateway.cancelAuthorization(ref)).toMatchObject({ status: "cancelled" });
    expect(await gateway.authorize(ref)).toMatchObject({
      status: "declined",
      reason: "authorization_cancelled",
    });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed" });
    expect((await ledgerOf(ref)).charges).toEqual([]);
  });

  it("tok_capture_fails: authorized, then its capture fails as a decline and never charges", async () => {
    const ref = hold("tok_capture_fails");
    expect(await gateway.authorize(ref)).toMatchObject({ status: "authorized" });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed", reason: "capture_declined" });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed", reason: "capture_declined" });
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({
      status: "failed",
      reason: "capture_declined",
    });
    expect((await ledgerOf(ref)).charges).toEqual([]);
  });

  it("tok_declined is declined at authorize; nothing can be captured", async () => {
    const ref = hold("tok_declined");
    expect(await gateway.authorize(ref)).toMatchObject({ status: "declined", reason: "card_declined" });
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({
      status: "failed",
      reason: "card_declined",
    });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed", reason: "card_declined" });
    expect((await ledgerOf(ref)).charges).toEqual([]);
  });

  it("tok_flaky: two unknowns with nothing held, then the hold", async () => {
    const ref = hold("tok_flaky");
    expect(await gateway.authorize(ref)).toMatchObject({ status: "unknown" });
    expect(await gateway.lookupAuthorization(ref)).toEqual({ status: "none" });
    expect(await gateway.authorize(ref)).toMatchObject({ status: "unknown" });
    expect(await gateway.authorize(ref)).toMatchObject({ status: "authorized" });
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({ status: "authorized" });
  });

  it("tok_timeout_after_charge: unknown, yet the lookup finds the hold placed", async () => {
    const ref = hold("tok_timeout_after_charge");
    expect(await gateway.authorize(ref)).toMatchObject({ status: "unknown" });
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({ status: "authorized" });
    expect(await gateway.authorize(ref)).toMatchObject({ status: "authorized" });
  });

  it("tok_3ds: the hold waits for the challenge; passing it places the hold", async () => {
    const ref = hold("tok_3ds");
    const waiting = await gateway.authorize(ref);
    expect(waiting).toMatchObject({ status: "requires_action", action: { type: "redirect_to_url" } });
    expect(await gateway.capture(ref)).toMatchObject({ status: "not_authorized", state: "requires_action" });
    if (waiting.status !== "requires_action") return;
    expect(await simulator.answerChallenge(waiting.intentId, true)).toMatchObject({ status: "succeeded" });
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({ status: "authorized" });
    expect(await gateway.capture(ref)).toMatchObject({ status: "succeeded" });
  });

  it("the fault switch: a lost capture answers unknown, and the lookup tells it was charged once", async () => {
    const ref = hold("tok_ok");
    await gateway.authorize(ref);
    await simulator.breakCharges("lose", 60);
    try {
      expect(await gateway.capture(ref)).toMatchObject({ status: "unknown" });
      await expect(gateway.cancelAuthorization(ref)).rejects.toThrow(/lost answer/);
    } finally {
      await simulator.breakCharges("fail", 0);
    }
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({ status: "captured" });
    expect(await gateway.capture(ref)).toMatchObject({ status: "succeeded" });
    expect((await ledgerOf(ref)).charges).toHaveLength(1);
  });

  it("the fault switch: an outage fails authorize, capture and cancel without doing anything", async () => {
    const ref = hold("tok_ok");
    const placed = hold("tok_ok");
    await gateway.authorize(placed);
    await simulator.breakCharges("fail", 60);
    try {
      expect(await gateway.authorize(ref)).toMatchObject({ status: "unknown" });
      expect(await gateway.capture(placed)).toMatchObject({ status: "unknown" });
      await expect(gateway.cancelAuthorization(placed)).rejects.toThrow(/outage/);
      await expect(gateway.lookupAuthorization(placed)).rejects.toThrow(/outage/);
    } finally {
      await simulator.breakCharges("fail", 0);
    }
    expect(await gateway.lookupAuthorization(ref)).toEqual({ status: "none" });
    expect(await gateway.lookupAuthorization(placed)).toMatchObject({ status: "authorized" });
  });

  it("a hold lapses after 7 days: the capture fails authorization_expired and nothing is charged", async () => {
    const ref = hold("tok_ok");
    await gateway.authorize(ref);
    const almost = await runInDurableObject(simulator, (_, state) =>
      new AuthorizationStore(state.storage, () => Date.now() + AUTHORIZATION_LIFETIME_MS - 60_000).lookup(
        ref.idempotencyKey,
      ),
    );
    expect(almost?.status).toBe("authorized");
    const later = await runInDurableObject(simulator, (_, state) =>
      new AuthorizationStore(state.storage, () => Date.now() + AUTHORIZATION_LIFETIME_MS + 1000).capture(
        ref.idempotencyKey,
      ),
    );
    expect(later).toMatchObject({ status: "expired", captures: 0 });
    expect(await gateway.capture(ref)).toMatchObject({ status: "failed", reason: "authorization_expired" });
    expect(await gateway.lookupAuthorization(ref)).toMatchObject({ status: "cancelled", expired: true });
    expect((await ledgerOf(ref)).charges).toEqual([]);
  });

  it("cancel racing capture leaves exactly one outcome, never a charge and a release", async () => {
    const refs = Array.from({ length: 12 }, () => hold("tok_ok"));
    await Promise.all(refs.map((ref) => gateway.authorize(ref)));
    const raced = await Promise.all(
      refs.map((ref, i) =>
        i % 2 === 0
          ? Promise.all([gateway.capture(ref), gateway.cancelAuthorization(ref)])
          : Promise.all([gateway.cancelAuthorization(ref), gateway.capture(ref)]).then(
              ([c, k]) => [k, c] as const,
            ),
      ),
    );
    for (const [i, [captured, after]] of raced.entries()) {
      const ref = refs[i] as AuthorizationRef;
      const { charges, listed } = await ledgerOf(ref);
      if (captured.status === "succeeded") {
        expect(after).toMatchObject({ status: "captured", chargeId: captured.chargeId });
        expect(charges).toHaveLength(1);
      } else {
        expect(captured).toMatchObject({ status: "failed", reason: "authorization_cancelled" });
        expect(after).toMatchObject({ status: "cancelled" });
        expect(charges).toEqual([]);
      }
      expect(listed[0]?.captures).toBeLessThanOrEqual(1);
    }
  }, 60_000);
});
