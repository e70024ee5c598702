import type { CachedBody } from "../catalog/catalog.cache";
import type { Product } from "../catalog/catalog.schemas";
import { type DropRoom, dropRoomOf } from "../catalog/catalog.service";
import { customerKey } from "../shared/customer-key";
import { AppError, type Problem } from "../shared/errors";
import { logEvent } from "../shared/log";
import { binOf, drawRank, keyedHash, Pass, sign, Ticket, verify } from "./admission";
import { PASS_TTL_MS, type RoomState } from "./waiting-room.do";

/**
 * The edge side of a drop's waiting room. Joining signs a ticket and counts it in this isolate's
 * memory; the counts go to the room's object at most once a second per isolate. A buyer's status is
 * answered from the room's published state, fetched at most once a second per isolate. So neither
 * touches an object per buyer: the room's cost grows with isolates, not with the crowd.
 */
const HAND_ON_EVERY_MS = 1000;
const STATE_FRESH_MS = 1000;

/** Tickets per report to the room (each is a rank and a customer's keyed hash). */
const REPORT_CHUNK = 5000;

type Pending = { room: DropRoom; tickets: [number, string][] };
const pending = new Map<string, Pending>();
let handedOnAt = 0;
/** Each room's state as this isolate last heard it (settled values only), and asks in flight. */
const states = new Map<string, { at: number; state: RoomState }>();
const asking = new Map<string, number>();
/** While one request asks the room, others answer from the state before for at most this long. */
const STATE_ASK_GRACE_MS = 1000;

function secretOf(env: Env): string {
  const secret = env.ADMISSION_SECRET;
  if (!secret) {
    logEvent("error", "a waiting room refused a buyer: it is not configured", {
      problem: "ADMISSION_SECRET is not set (wrangler secret put ADMISSION_SECRET)",
    });
    throw new AppError("waiting_room_not_configured", {
      detail: "This waiting room is not open yet; try again later",
      headers: { "Retry-After": "300" },
    });
  }
  return secret;
}

/**
 * Who holds a ticket or a pass: a keyed hash of the normalised email (not a plain hash, which anyone
 * could compute from a guessed address), never the email itself.
 */
export const customerHash = (env: Env, email: string) =>
  keyedHash(secretOf(env), `customer|${customerKey(email)}`);

function queue(room: DropRoom, tickets: [number, string][]) {
  const entry = pending.get(room.productId) ?? { room, tickets: [] };
  entry.room = room;
  entry.tickets.push(...tickets);
  pending.set(room.productId, entry);
}

/**
 * A place in the drop's line: shuffled among everyone who came before the shuffle, else in order of
 * arrival. One customer has one place: joining again gives the same ticket before the shuffle, and
 * the room keeps the first place a customer took, so neither a re-roll nor a second pass is to be had.
 */
export async function join(env: Env, room: DropRoom, email: string, now = Date.now()) {
  const secret = secretOf(env);
  const customer = await customerHash(env, email);
  const prequeue = now < room.startsAt;
  // A later arrival's rank is its arrival time; a random millionth of a second keeps ranks apart
  // (the runtime's clock does not move within one request), deciding ties by lot.
  const tiebreak = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
  const rank = prequeue
    ? await drawRank(secret, room.productId, customer)
    : 1 + (now - room.startsAt) / 1000 + (tiebreak / 2 ** 32) * 1e-6;
  const ticket: Ticket = {
    kind: "ticket",
    id: (await keyedHash(secret, `ticket|${room.productId}|${customer}`)).slice(0, 32),
    productId: room.productId,
    customer,
    rank,
    joinedAt: now,
  };
  const signed = await sign(secret, ticket);
  queue(room, [[rank, customer]]);
  return { ticket: signed, prequeue, startsAt: new Date(room.startsAt).toISOString() };
}

/** Whether this isolate holds joins it should hand on now (the routed answers do it). */
export function joinsDue(now = Date.now()): boolean {
  return pending.size > 0 && now - handedOnAt >= HAND_ON_EVERY_MS;
}

/** Each catalog entry's room, parsed once however many of the crowd ask while the entry is held. */
const roomsOf = new WeakMap<object, DropRoom | null>();

export function roomOfEntry(entry: CachedBody): DropRoom | null {
  const known = roomsOf.get(entry);
  if (known !== undefined) return known;
  const room = dropRoomOf(JSON.parse(entry.body) as Product);
  roomsOf.set(entry, room);
  return room;
}

export const bearerOf = (header: string | null | undefined) =>
  /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")?.[1] ?? "";

/** Hands the tickets joined here to their rooms, if a second has passed; a failed hand-on is kept. */
export function handOnJoins(env: Env, force = false): Promise<void> | null {
  const now = Date.now();
  if (pending.size === 0 || (!force && now - handedOnAt < HAND_ON_EVERY_MS)) return null;
  handedOnAt = now;
  const batch = [...pending.values()];
  pending.clear();
  return Promise.all(
    batch.flatMap(({ room, tickets }) =>
      Array.from({ length: Math.ceil(tickets.length / REPORT_CHUNK) }, (_, i) =>
        tickets.slice(i * REPORT_CHUNK, (i + 1) * REPORT_CHUNK),
      ).map(async (chunk) => {
        try {
          await env.ROOMS.getByName(room.productId).report({ ...room, tickets: chunk });
        } catch (error) {
          logEvent("warn", "waiting room tickets not handed on; kept for the next", { error: String(error) });
          queue(room, chunk);
        }
      }),
    ),
  ).then(() => undefined);
}

/**
 * The room's state, asked at most once a second per isolate. Only settled states are shared between
 * requests, never a call in flight: a promise doing I/O for one request must not be awaited by
 * another (its request may end first). While one request asks, the others answer from the state
 * before; an isolate that has none yet asks for each.
 */
async function roomState(env: Env, productId: string): Promise<RoomState> {
  const now = Date.now();
  const known = states.get(productId);
  if (known && now - known.at < STATE_FRESH_MS) return known.state;
  const since = asking.get(productId);
  if (known && since !== undefined && now - since < STATE_ASK_GRACE_MS) return known.state;
  asking.set(productId, now);
  // RPC returns tuples as plain arrays; their shape is the object's own. A failed ask leaves its
  // mark for the grace, so a room in trouble is asked once a second, not once a poll.
  const state = (await env.ROOMS.getByName(productId).state()) as unknown as RoomState;
  if (asking.get(productId) === now) asking.delete(productId);
  // An older ask that answers late does not replace a newer state.
  const stored = states.get(productId);
  if (!stored || stored.at <= now) states.set(productId, { at: now, state });
  return state;
}

export type TicketStatus =
  | { state: "not_started"; startsAt: string; position: number; pollAfterSeconds: number }
  | {
      state: "waiting";
      position: number;
      etaSeconds: number;
      unitsLeft: number;
      likelySoldOut: boolean;
      pollAfterSeconds: number;
    }
  | { state: "admitted"; pass: string; passExpiresAt: string; unitsLeft: number }
  | { state: "expired" }
  | { state: "sold_out" };

/** Where a ticket stands, from the room's state as this isolate last heard it (at most 1 s old). */
export async function ticketStatus(
  env: Env,
  room: DropRoom,
  token: string,
  now = Date.now(),
): Promise<TicketStatus> {
  const secret = secretOf(env);
  const ticket = await verify(secret, token, Ticket);
  if (!ticket || ticket.productId !== room.productId) {
    throw new AppError("ticket_invalid", { detail: "This is not a ticket of this drop's queue" });
  }
  const state = await roomState(env, room.productId);
  if (state.soldOut) return { state: "sold_out" };
  const bin = binOf(ticket.rank);
  const ahead = Math.max(0, cumulativeBefore(state, bin) - state.admitted);
  const perSecond = Math.max(room.admitPerMinute / 60, 1 / 60);
  // When this place's turn should come: from the start (or now), at the room's rate.
  const turnInSeconds = Math.max(0, room.startsAt - now) / 1000 + (ahead + 1) / perSecond;
  if (now < room.startsAt) {
    return {
      state: "not_started",
      startsAt: new Date(room.startsAt).toISOString(),
      position: ahead + 1,
      pollAfterSeconds: pollAfter(turnInSeconds),
    };
  }
  const stepAt =
    ticket.rank <= state.threshold ? state.steps.find(([upto]) => upto >= ticket.rank)?.[1] : undefined;
  if (stepAt === undefined) {
    // The room has nobody left to admit, yet this ticket waits: its join never reached the room (its
    // isolate went first). Handing it on again is harmless: the room keeps one place per customer.
    if (ahead === 0 && state.joined === state.admitted) queue(room, [[ticket.rank, ticket.customer]]);
    return {
      state: "waiting",
      position: ahead + 1,
      etaSeconds: Math.ceil(turnInSeconds),
      unitsLeft: state.unitsLeft,
      // Honest about the odds: more people ahead than the room lets in for what is left.
      likelySoldOut: ahead >= state.unitsLeft * 1.5,
      pollAfterSeconds: pollAfter(turnInSeconds),
    };
  }
  // A ticket that reached the room after its place was passed counts from when it arrived there.
  const admittedAt = Math.max(stepAt, ticket.joinedAt);
  const expiresAt = admittedAt + PASS_TTL_MS;
  if (expiresAt <= now) return { state: "expired" };
  const pass: Pass = {
    kind: "pass",
    id: ticket.id,
    productId: room.productId,
    customer: ticket.customer,
    expiresAt,
  };
  return {
    state: "admitted",
    pass: await sign(secret, pass),
    passExpiresAt: new Date(expiresAt).toISOString(),
    // None left while others pay: units may still come back before the pass expires.
    unitsLeft: state.unitsLeft,
  };
}

/** A waiting buyer asks again at most this often, and at least this often (to hear "sold out"). */
const POLL_MIN_SECONDS = 1;
const POLL_MAX_SECONDS = 20;

/**
 * When a waiting buyer should ask again: about halfway to their turn, within [1 s, 20 s], spread by
 * a fifth either way so that a crowd told the same thing does not come back in the same second.
 */
function pollAfter(turnInSeconds: number): number {
  const spread = 0.8 + Math.random() * 0.4;
  const seconds = Math.round((turnInSeconds / 2) * spread);
  return Math.min(POLL_MAX_SECONDS, Math.max(POLL_MIN_SECONDS, seconds));
}

/** Tickets in bins before this one (the bins are cumulated in order). */
function cumulativeBefore(state: RoomState, bin: number): number {
  let before = 0;
  for (const [at, total] of state.cumulative) {
    if (at >= bin) break;
    before = total;
  }
  return before;
}

/**
 * Checks a drop's admission pass at checkout: signed by this shop, for this product, not expired,
 * and issued to this customer. Answers the pass, or the 403 refusal the buyer should see (a refusal,
 * not a throw, so a retry of an order already placed still gets its stored answer).
 */
export async function admittedPass(
  env: Env,
  room: DropRoom,
  token: string | undefined,
  email: string,
): Promise<{ pass: Pass } | { refusal: Problem }> {
  if (!token) {
    return {
      refusal: {
        code: "admission_pass_required",
        detail: `This drop sells through its waiting room: join it at /v1/drops/${room.productId}/tickets`,
      },
    };
  }
  const pass = await verify(secretOf(env), token, Pass);
  if (!pass || pass.productId !== room.productId || pass.customer !== (await customerHash(env, email))) {
    return {
      refusal: {
        code: "admission_pass_invalid",
        detail: "This admission pass is not valid for this drop and this customer",
      },
    };
  }
  if (pass.expiresAt <= Date.now()) {
    return {
      refusal: {
        code: "admission_pass_expired",
        detail: "This admission pass has expired: join the queue again",
      },
    };
  }
  return { pass };
}
