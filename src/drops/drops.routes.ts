import { createRoute, z } from "@hono/zod-openapi";
import { recall } from "../catalog/catalog.memory";
import { type DropRoom, productKey, readProduct } from "../catalog/catalog.service";
import { createRouter } from "../http/router";
import { background, type Scope, scopeOf } from "../http/scope";
import { AppError } from "../shared/errors";
import { problems } from "../shared/problem";
import { spendJoin } from "./join-limit";
import { checkTurnstile } from "./turnstile";
import { bearerOf, handOnJoins, join, joinsDue, roomOfEntry, ticketStatus } from "./waiting-room";

export const DropParams = z.object({
  product: z
    .string()
    .min(1)
    .max(100)
    .openapi({
      param: { name: "product", in: "path" },
      description: "The drop's (or draw's) product, by id or slug",
    }),
});

const joinRoute = createRoute({
  method: "post",
  path: "/drops/{product}/tickets",
  operationId: "joinDropQueue",
  tags: ["Drops"],
  summary: "Join a drop's waiting room: a signed ticket, shuffled with everyone who comes before the start",
  security: [],
  request: {
    params: DropParams,
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z
            .object({
              email: z.email().max(254),
              turnstileToken: z.string().min(1).max(2048).optional().openapi({
                description: "The Turnstile widget's token; required when the shop set TURNSTILE_SECRET",
              }),
            })
            .strict(),
        },
      },
    },
  },
  responses: {
    201: {
      description: "A ticket; poll /v1/drops/{product}/status with it as a bearer token",
      content: {
        "application/json": {
          schema: z.object({
            ticket: z.string(),
            prequeue: z.boolean().openapi({ description: "Joined before the start: shuffled at it" }),
            startsAt: z.iso.datetime(),
          }),
        },
      },
    },
    ...problems(
      { status: 400, description: "Invalid body" },
      { status: 403, description: "turnstile_required, turnstile_failed (a missing, bad or reused token)" },
      { status: 404, description: "No drop with a waiting room (drop_not_found)" },
      { status: 429, description: "Too many joins from this client (rate_limited, Retry-After)" },
      {
        status: 503,
        description:
          "waiting_room_not_configured (no bot check is configured), or the bot check could not be made (Retry-After)",
      },
    ),
  },
});

const statusRoute = createRoute({
  method: "get",
  path: "/drops/{product}/status",
  operationId: "getDropTicketStatus",
  tags: ["Drops"],
  summary: "Where a ticket stands: its place and wait, its admission pass, or sold out",
  security: [{ dropTicket: [] }],
  request: { params: DropParams },
  responses: {
    200: {
      description: "The ticket's standing, from the room's state of the last second",
      content: {
        "application/json": {
          schema: z.object({
            state: z.enum(["not_started", "waiting", "admitted", "expired", "sold_out"]),
            startsAt: z.iso.datetime().optional(),
            position: z.number().int().optional().openapi({ description: "1 for the next in line" }),
            etaSeconds: z.number().int().optional(),
            unitsLeft: z
              .number()
              .int()
              .optional()
              .openapi({ description: "Units of the drop still available" }),
            likelySoldOut: z.boolean().optional().openapi({
              description: "More buyers are ahead than the room would let in for the units left",
            }),
            pollAfterSeconds: z.number().int().min(1).optional().openapi({
              description:
                "Ask again after this long (1 to 20 s, nearer one's turn sooner); sold out is told at the next ask",
            }),
            pass: z.string().optional().openapi({ description: "Send as admission.pass at checkout" }),
            passExpiresAt: z.iso.datetime().optional(),
          }),
        },
      },
    },
    ...problems(
      { status: 403, description: "Not a ticket of this drop (ticket_invalid)" },
      { status: 404, description: "No drop with a waiting room (drop_not_found)" },
      { status: 503, description: "waiting_room_not_configured (Retry-After)" },
    ),
  },
});

async function dropRoom(scope: Scope, idOrSlug: string): Promise<DropRoom> {
  const read = await readProduct(scope, idOrSlug);
  const room = read ? roomOfEntry(read.entry) : null;
  if (!room) throw new AppError("drop_not_found", { detail: `${idOrSlug} has no waiting room` });
  return room;
}

/** A ticket's standing as the status route answers it. */
async function statusAnswer(env: Env, room: DropRoom, authorization: string | undefined | null) {
  const status = await ticketStatus(env, room, bearerOf(authorization ?? undefined));
  return new Response(JSON.stringify(status), {
    status: 200,
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store" },
  });
}

/**
 * A ticket's standing when this isolate holds the drop's product in memory: the crowd's most frequent
 * question, answered as the status route answers it, without routing. Null for anything else (a drop
 * not held, joins waiting to be handed on, a bad ticket, a room that cannot be asked): the route
 * answers those in full.
 */
export async function heldDropStatus(
  env: Env,
  idOrSlug: string,
  authorization: string | null,
): Promise<Response | null> {
  if (joinsDue()) return null;
  const entry = recall(productKey(idOrSlug));
  const room = entry ? roomOfEntry(entry) : null;
  if (!room) return null;
  return statusAnswer(env, room, authorization).catch(() => null);
}

/** Any request of a drop may carry this isolate's joins to their rooms, once a second at most. */
function handOnInBackground(scope: Scope) {
  const handOn = handOnJoins(scope.env);
  if (handOn) background(scope, "waiting room tickets", handOn);
}

export const dropRoutes = createRouter()
  .openapi(joinRoute, async (c) => {
    const scope = scopeOf(c);
    // A drop's crowd joins and polls by the thousand a second: its access lines are sampled.
    c.set("routine", true);
    await spendJoin(c.env, c.req.raw.headers);
    const room = await dropRoom(scope, c.req.valid("param").product);
    const { email, turnstileToken } = c.req.valid("json");
    await checkTurnstile(c.env, turnstileToken, {
      ip: c.req.header("CF-Connecting-IP"),
      hostname: new URL(c.req.url).hostname,
    });
    const joined = await join(c.env, room, email);
    handOnInBackground(scope);
    c.header("Cache-Control", "no-store");
    return c.json(joined, 201);
  })
  .openapi(statusRoute, async (c) => {
    const scope = scopeOf(c);
    c.set("routine", true);
    const room = await dropRoom(scope, c.req.valid("param").product);
    const answer = await statusAnswer(c.env, room, c.req.header("Authorization"));
    handOnInBackground(scope);
    return answer as never;
  });
