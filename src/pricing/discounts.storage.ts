import { and, asc, desc, eq, gt, gte, isNotNull, lt } from "drizzle-orm";
import { database, isUniqueViolation } from "../db/client";
import { discounts } from "../db/schema";
import type { Scope } from "../http/scope";
import { codeUsesName } from "../inventory/allowances";
import { pushCodeCap } from "../inventory/code-uses";
import { bucketObject } from "../inventory/inventory.service";
import { EdgeMemo } from "../shared/edge-memo";
import { AppError, validationError } from "../shared/errors";
import { newBatchKey } from "./code-batches";
import {
  type BatchInput,
  capBuckets,
  type DiscountDefinition,
  DiscountInput,
  type DiscountPatch,
} from "./discounts";

/**
 * Where discount codes live: D1 is their record; KV carries a copy of each, written through on every
 * change, which checkout reads at the edge (so D1 down does not stop a code from applying); each
 * isolate remembers a code for MEMO_TTL_SECONDS. A change (a code disabled, a cap lowered) reaches
 * checkout at this location at once, elsewhere within that and KV's own propagation; the caps
 * themselves are enforced where the uses are held, with the cap the line carries (see allowances.ts).
 *
 * A change, and what is left if the worker dies (or a call throws) between two awaits: the D1 write is
 * the change (or nothing changed: 503); the KV copy comes after it. Should that fail or the worker stop
 * in between, the scheduled republish copies every code changed in the last period from D1 to KV.
 */
const MEMO_TTL_SECONDS = 30;
const kvKey = (code: string) => `discount:${code}`;

function memo(scope: Scope) {
  // Only codes that exist are remembered: a stranger's invented codes never fill an isolate's memory.
  return new EdgeMemo("discount", scope.origin, { keep: (value) => value !== null });
}

const definitionOf = (row: {
  body: string;
  status: string;
  createdAt: string;
  updatedAt: string;
  capPending?: string | null;
}) =>
  ({
    ...JSON.parse(row.body),
    status: row.status,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    ...(row.capPending ? { capPending: row.capPending } : {}),
  }) as DiscountDefinition;

/** A code as KV carries it to checkout: without D1's own bookkeeping. */
const published = ({ capPending: _pending, ...definition }: DiscountDefinition) => JSON.stringify(definition);

export async function findDiscount(env: Env, code: string): Promise<DiscountDefinition | null> {
  const [row] = await database(env.DB).select().from(discounts).where(eq(discounts.code, code));
  return row ? definitionOf(row) : null;
}

/**
 * A code as checkout reads it: this isolate's memory, then KV, then D1 (a code KV does not have may
 * be one whose copy was lost). With both KV and D1 unreachable, 503: refusing a valid code is worse
 * than asking to retry.
 */
export async function readDiscount(scope: Scope, code: string): Promise<DiscountDefinition | null> {
  const remembered = await memo(scope).get(code);
  if (remembered) return JSON.parse(remembered) as DiscountDefinition;
  const published = await scope.env.CATALOG.get(kvKey(code)).catch(() => undefined);
  let found: DiscountDefinition | null;
  if (typeof published === "string") found = JSON.parse(published) as DiscountDefinition;
  else {
    try {
      found = await findDiscount(scope.env, code);
    } catch (error) {
      throw new AppError("service_unavailable", {
        detail: "Discount codes cannot be read right now; retry shortly",
        headers: { "Retry-After": "1" },
        cause: error,
      });
    }
  }
  if (found) {
    scope.waitUntil(
      memo(scope)
        .put(code, JSON.stringify(found), MEMO_TTL_SECONDS)
        .catch(() => undefined),
    );
  }
  return found;
}

async function publish(scope: Scope, definition: DiscountDefinition) {
  await Promise.allSettled([
    scope.env.CATALOG.put(kvKey(definition.code), published(definition)),
    memo(scope).delete(definition.code),
  ]);
}

export async function createDiscount(
  scope: Scope,
  input: DiscountInput,
  batch?: DiscountDefinition["batch"],
): Promise<DiscountDefinition> {
  const now = new Date().toISOString();
  const buckets = capBuckets(input);
  const { code, ...rest } = { ...input, ...(buckets ? { buckets } : {}) };
  const body = JSON.stringify({ code, ...rest, ...(batch ? { batch } : {}) });
  try {
    await database(scope.env.DB).insert(discounts).values({ code, body, createdAt: now, updatedAt: now });
  } catch (error) {
    if (isUniqueViolation(error, "discounts.code")) {
      throw new AppError("discount_code_taken", { detail: `The code ${code} exists already` });
    }
    throw error;
  }
  const definition: DiscountDefinition = {
    ...input,
    ...(buckets ? { buckets } : {}),
    ...(batch ? { batch } : {}),
    status: "active",
    createdAt: now,
    updatedAt: now,
  };
  await publish(scope, definition);
  return definition;
}

/**
 * Applies a patch to a code as it is now; a change made meanwhile by another request is read again
 * and the patch applied over it (each field is set on its own), so no change is lost.
 */
export async function updateDiscount(
  scope: Scope,
  code: string,
  patch: DiscountPatch,
): Promise<DiscountDefinition> {
  const db = database(scope.env.DB);
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await findDiscount(scope.env, code);
    if (!current) throw notFound(code);
    const { status, ...fields } = patch;
    capsRefusal(current, patch);
    const next: DiscountDefinition = { ...current };
    for (const [field, value] of Object.entries(fields)) {
      if (value === null) delete (next as Record<string, unknown>)[field];
      else if (value !== undefined) (next as Record<string, unknown>)[field] = value;
    }
    if (next.startsAt && next.endsAt && Date.parse(next.startsAt) >= Date.parse(next.endsAt)) {
      throw new AppError("validation_failed", {
        detail: "endsAt must come after startsAt",
        errors: [{ path: "endsAt", message: "Must come after startsAt", in: "body" }],
      });
    }
    const now = new Date(Math.max(Date.now(), Date.parse(current.updatedAt) + 1)).toISOString();
    if (typeof patch.maxUses === "number") next.maxUsesChangedAt = now;
    // A split cap's change is pending until its push completes (see completeCapChanges).
    const pending = typeof patch.maxUses === "number" && splitCap(next) ? { capPending: now } : {};
    const { status: _status, createdAt: _created, updatedAt: _updated, capPending: _p, ...body } = next;
    const written = await db
      .update(discounts)
      .set({ body: JSON.stringify(body), status: status ?? current.status, updatedAt: now, ...pending })
      .where(and(eq(discounts.code, code), eq(discounts.updatedAt, current.updatedAt)))
      .returning({ code: discounts.code });
    if (written.length === 0) continue;
    const definition: DiscountDefinition = {
      ...next,
      status: status ?? current.status,
      updatedAt: now,
      ...pending,
    };
    // The buckets hear of a new cap before checkouts do: a checkout carrying it meets no bucket still
    // on the old one (where it would get nothing). Published even when the push fails, for the
    // patch's other fields; checkouts then meet buckets the change has not opened, and are answered
    // 503 (retry), never "used up", until the change is made again.
    try {
      if (patch.maxUses && !definition.batch && (await pushCap(scope.env, definition))) {
        delete definition.capPending;
      }
    } finally {
      await publish(scope, definition);
    }
    return definition;
  }
  throw new AppError("service_unavailable", {
    detail: "The code kept changing while this change was made; retry",
    headers: { "Retry-After": "1" },
  });
}

/**
 * A cap is counted from a code's first use: it can be changed, but not added to a code made without one
 * (its earlier uses were never counted) nor removed (and added back later, uncounted meanwhile).
 */
function capsRefusal(current: DiscountDefinition, patch: DiscountPatch) {
  for (const field of ["maxUses", "maxUsesPerCustomer"] as const) {
    const value = patch[field];
    if (value === undefined) continue;
    const message =
      value === null
        ? current[field] === undefined
          ? null
          : "A cap can be changed, not removed: disable the code, or make a new one"
        : current[field] === undefined
          ? "This code was made without this cap, so its uses so far were not counted: make a new code"
          : null;
    if (message) {
      throw new AppError("validation_failed", {
        detail: message,
        errors: [{ path: field, message, in: "body" }],
      });
    }
  }
}

/**
 * Tells the code's uses object its new cap at once (checkouts carry it too, as they read the change;
 * the object never goes back to an older cap). Should this call fail, the change stands and reaches
 * the object with the next checkout that read it; the caller gets a 503 to repeat it meanwhile.
 *
 * A cap split over buckets is told in two rounds (see inventory/code-uses.ts): should one fail, or
 * the worker stop between them, the code gives fewer uses than the new cap (never more than the old
 * or new one allows) until the change is made again, which a repeated request does (under a version
 * of its own, overtaking this one), or else the scheduled job (completeCapChanges). A change
 * overtaken by a newer one meanwhile is done: the newer one sets the shares. Answers whether this
 * push cleared its change's pending mark in D1 (a split cap's, completed).
 */
async function pushCap(env: Env, definition: DiscountDefinition & { maxUses?: number }): Promise<boolean> {
  if (!definition.maxUses) return false;
  const name = await codeUsesName(definition.code);
  const buckets = definition.buckets ?? 1;
  try {
    if (buckets > 1) {
      const changed = definition.maxUsesChangedAt ?? definition.updatedAt;
      await pushCodeCap(env, definition.code, definition.maxUses, buckets, Date.parse(changed));
      // Done, or overtaken by a newer change (which clears its own). Should this write fail, the
      // scheduled job makes the change again, needlessly but harmlessly.
      const cleared = await database(env.DB)
        .update(discounts)
        .set({ capPending: null })
        .where(and(eq(discounts.code, definition.code), eq(discounts.capPending, changed)))
        .returning({ code: discounts.code })
        .catch(() => []);
      return cleared.length > 0;
    } else {
      await bucketObject(env, name, 0).setWithin(name, definition.maxUses, Date.parse(definition.updatedAt));
      return false;
    }
  } catch (error) {
    throw new AppError("service_unavailable", {
      detail: "The change is saved; the code's counter has not heard of the new cap yet: repeat the request",
      headers: { "Retry-After": "1" },
      cause: error,
    });
  }
}

export async function listDiscounts(
  env: Env,
  limit: number,
  after: string | null,
): Promise<{ items: DiscountDefinition[]; next: string | null }> {
  const rows = await database(env.DB)
    .select()
    .from(discounts)
    .where(after ? gt(discounts.code, after) : undefined)
    .orderBy(asc(discounts.code))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { items: page.map(definitionOf), next: rows.length > limit ? (page.at(-1)?.code ?? null) : null };
}

const notFound = (code: string) => new AppError("discount_not_found", { detail: `No discount code ${code}` });

/**
 * A batch of single-use codes, kept as one definition under its prefix with a key of its own (see
 * code-batches.ts); nothing is written per code.
 */
export async function createBatch(scope: Scope, input: BatchInput): Promise<DiscountDefinition> {
  const { prefix, count, ...terms } = input;
  const checked = DiscountInput.safeParse({ code: prefix, ...terms });
  if (!checked.success) throw validationError(checked.error, "body");
  const created = await createDiscount(scope, checked.data, { count, key: newBatchKey() });
  return created;
}

/**
 * The scheduled safety net for the write-through: every code changed in the last day is copied to KV
 * again (the newest first, at most 500 a run), so a KV write that failed, even in a few runs of this
 * in a row, is healed within a cron period.
 */
export async function republishDiscounts(env: Env, now: Date): Promise<number> {
  const rows = await database(env.DB)
    .select()
    .from(discounts)
    .where(gte(discounts.updatedAt, new Date(now.getTime() - 86_400_000).toISOString()))
    .orderBy(desc(discounts.updatedAt))
    .limit(500);
  await Promise.all(rows.map((row) => env.CATALOG.put(kvKey(row.code), published(definitionOf(row)))));
  return rows.length;
}

const splitCap = (definition: DiscountDefinition) =>
  definition.maxUses !== undefined && (definition.buckets ?? 1) > 1 && !definition.batch;

/** A change pending this long is taken as stopped (a live PATCH pushes within seconds). */
const PENDING_GRACE_MS = 60_000;
/** Changes completed per run: each is 2 calls per bucket (up to 32), within a run's subrequests. */
const REPAIRS_PER_RUN = 5;

/**
 * The scheduled repair of split caps whose change was left half-done (the request failed, or the
 * worker stopped, between or within its rounds; see inventory/code-uses.ts). The same change is not
 * pushed again under its own version: a run of it may still be going (a slow request), and two runs
 * of one version can interleave (one's open landing between the other's freeze and open, which then
 * opens from what it froze before). So each is made again as a new change, through the same
 * conditional D1 write a PATCH makes (a newer version, and nothing if the code changed meanwhile: that
 * change is then the one to complete), pushed, and published. Answers how many were completed.
 */
export async function completeCapChanges(env: Env, now: Date): Promise<number> {
  const db = database(env.DB);
  const rows = await db
    .select()
    .from(discounts)
    .where(
      and(
        isNotNull(discounts.capPending),
        lt(discounts.capPending, new Date(now.getTime() - PENDING_GRACE_MS).toISOString()),
      ),
    )
    .orderBy(asc(discounts.capPending))
    .limit(REPAIRS_PER_RUN);
  let completed = 0;
  for (const row of rows) {
    const current = definitionOf(row);
    if (!splitCap(current)) {
      await db.update(discounts).set({ capPending: null }).where(eq(discounts.code, row.code));
      continue;
    }
    const version = new Date(Math.max(Date.now(), Date.parse(current.updatedAt) + 1)).toISOString();
    const next: DiscountDefinition = { ...current, maxUsesChangedAt: version, updatedAt: version };
    const { status: _s, createdAt: _c, updatedAt: _u, capPending: _p, ...body } = next;
    const written = await db
      .update(discounts)
      .set({ body: JSON.stringify(body), updatedAt: version, capPending: version })
      .where(and(eq(discounts.code, row.code), eq(discounts.updatedAt, current.updatedAt)))
      .returning({ code: discounts.code });
    if (written.length === 0) continue;
    try {
      if (await pushCap(env, next)) completed++;
    } catch {
      // Left pending under the new version: the next run makes it again.
    } finally {
      await env.CATALOG.put(kvKey(row.code), published(next)).catch(() => undefined);
    }
  }
  return completed;
}
