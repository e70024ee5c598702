import { database } from "../db/client";
import type { OrderRow } from "../db/schema";
import { AppError } from "../errors";
import { secretsEqual } from "../http/admin-auth";
import { releaseHolds } from "../inventory/inventory.holds";
import { sha256Hex } from "../shared/crypto";
import type { Order } from "./orders.schemas";
import { findOrder, itemsOf, toOrder, transition } from "./orders.storage";

const notFound = (id: string) => new AppError("order_not_found", { detail: `No order ${id} for this token` });

/** An order is found only with its token: an unknown id and a wrong token look exactly alike. */
async function authorized(env: Env, id: string, authorization: string | undefined): Promise<OrderRow> {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
  const row = await findOrder(database(env.DB), id);
  const given = await sha256Hex(token ?? "");
  // Compare even when there is no order, so a miss costs what a wrong token costs.
  const matches = await secretsEqual(given, row?.tokenHash ?? "0".repeat(64));
  if (!row || !token || !matches) throw notFound(id);
  return row;
}

export async function readOrder(env: Env, id: string, authorization: string | undefined): Promise<Order> {
  const row = await authorized(env, id, authorization);
  const items = await itemsOf(database(env.DB), [row.id]);
  return toOrder(row, items.get(row.id) ?? []);
}

/**
 * Cancels an unpaid order: the conditional move out of `pending_payment` decides any race with the
 * payment, and whoever makes it owns the holds. A charge that lands afterwards is refunded by the
 * payment side.
 */
export async function cancelOrder(env: Env, id: string, authorization: string | undefined): Promise<Order> {
  const row = await authorized(env, id, authorization);
  const db = database(env.DB);
  if (await transition(db, row.id, "cancelled", {})) {
    await releaseHolds(env, row.id, row.holds);
  } else {
    const current = await findOrder(db, row.id);
    if (current?.status !== "cancelled") {
      throw new AppError("order_not_cancellable", { detail: `The order is already ${current?.status}` });
    }
  }
  return readOrder(env, id, authorization);
}
