import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { DrawEntry, DrawRecord } from "../src/draws/proof";
import { admin, call, createProduct, JSON_HEADERS, unique } from "./helpers";

/** A product sold by draw, from its setup to its entries, through the public API. */
export type DrawProduct = { id: string; sku: string; commitment: string };

export async function drawProduct({
  onHand = 10,
  units = 3,
  opensInMs = -60_000,
  closesInMs = 3_600_000,
} = {}): Promise<DrawProduct> {
  const product = await createProduct();
  const sku = product.variants[0]?.sku ?? "";
  expect((await admin("PUT", `/v1/admin/inventory/${sku}`, { onHand })).status).toBe(200);
  const setup = await admin("POST", `/v1/admin/products/${product.id}/draw`, {
    opensAt: new Date(Date.now() + opensInMs).toISOString(),
    closesAt: new Date(Date.now() + closesInMs).toISOString(),
    units: { [sku]: units },
  });
  const body = await setup.json<{ product: { draw?: { commitment: string } }; status: { phase: string } }>();
  if (setup.status !== 201) throw new Error(`setup failed: ${setup.status} ${JSON.stringify(body)}`);
  return { id: product.id, sku, commitment: body.product.draw?.commitment ?? "" };
}

export const ADDRESS = { line1: "1 Main St", city: "Springfield", postalCode: "12345", country: "US" };

export type Entered = {
  entry: { entryId: string; state: string; reason: string | null };
  entryToken: string;
};

export function enter(draw: DrawProduct, body: Record<string, unknown>, key = unique("k")) {
  return call(`/v1/drops/${draw.id}/draw/entries`, {
    method: "POST",
    headers: { ...JSON_HEADERS, "Idempotency-Key": key },
    body: JSON.stringify({ sku: draw.sku, paymentToken: "tok_ok", shippingAddress: ADDRESS, ...body }),
  });
}

export const entryCall = (draw: DrawProduct, token: string, method = "GET") =>
  call(`/v1/drops/${draw.id}/draw/entry`, { method, headers: { Authorization: `Bearer ${token}` } });

export async function authorizations(entryId: string) {
  const list = await env.SIMULATOR.getByName("simulator").authorizations();
  return list.filter((one) => one.ownerId === entryId);
}

export type Proof = DrawRecord & { state: string };

export async function proofOf(draw: DrawProduct): Promise<Proof> {
  return (await call(`/v1/drops/${draw.id}/draw/proof`)).json<Proof>();
}

/** Waits for the draw's object to reach `state` in its public record (its alarm drives it). */
export async function drawReaches(draw: DrawProduct, state: string, timeoutMs = 40_000): Promise<Proof> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const proof = await proofOf(draw);
    if (proof.state === state || Date.now() > deadline) return proof;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function frozenList(draw: DrawProduct): Promise<DrawEntry[]> {
  const entries: DrawEntry[] = [];
  let cursor = "";
  for (;;) {
    const page = await (
      await call(`/v1/drops/${draw.id}/draw/entries?cursor=${encodeURIComponent(cursor)}&limit=2`)
    ).json<{ entries: DrawEntry[]; nextCursor: string | null }>();
    entries.push(...page.entries);
    if (!page.nextCursor) return entries;
    cursor = page.nextCursor;
  }
}

export async function eventually(check: () => Promise<void>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** An entry as its token reads it: a winner's shows the order it became and the order's token. */
export type EntryView = {
  state: string;
  reason: string | null;
  order?: { orderId: string; orderToken: string };
};

export async function entryView(draw: DrawProduct, token: string): Promise<EntryView> {
  return (await entryCall(draw, token)).json<EntryView>();
}
