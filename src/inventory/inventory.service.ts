import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { variants } from "../db/schema";
import { AppError } from "../errors";
import type { InventorySnapshot, StockChange } from "./inventory.do";

export type StockStatus = "in_stock" | "low_stock" | "sold_out";

export function inventoryObject(env: Env, sku: string) {
  return env.INVENTORY.getByName(sku);
}

export function stockStatus(available: number, lowStockThreshold: number): StockStatus {
  if (available <= 0) return "sold_out";
  return available <= lowStockThreshold ? "low_stock" : "in_stock";
}

export async function readSnapshot(env: Env, sku: string): Promise<InventorySnapshot> {
  const snapshot = await inventoryObject(env, sku).snapshot();
  if (!snapshot) throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}` });
  return snapshot;
}

/** Only SKUs the catalog knows can be stocked: an admin typo must not create a phantom SKU. */
async function assertCatalogSku(env: Env, sku: string) {
  const [row] = await database(env.DB)
    .select({ sku: variants.sku })
    .from(variants)
    .where(eq(variants.sku, sku));
  if (!row) throw new AppError("sku_not_found", { detail: `No variant in the catalog has SKU ${sku}` });
}

function applied(change: StockChange, sku: string): InventorySnapshot {
  if (change.ok) return change.snapshot;
  if (change.error === "not_stocked") {
    throw new AppError("sku_not_found", { detail: `No stock is kept for SKU ${sku}; set it first` });
  }
  throw new AppError("stock_below_reserved", {
    detail: `${change.reserved} units of ${sku} are reserved; the change would leave fewer on hand`,
    extensions: { onHand: change.onHand, reserved: change.reserved },
  });
}

export async function setStock(env: Env, sku: string, onHand: number): Promise<InventorySnapshot> {
  await assertCatalogSku(env, sku);
  return applied(await inventoryObject(env, sku).set(sku, onHand), sku);
}

export async function adjustStock(env: Env, sku: string, delta: number, reason: string) {
  return applied(await inventoryObject(env, sku).adjust(delta, reason), sku);
}
