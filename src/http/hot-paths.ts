import { catalogAnswer } from "../catalog/catalog.http";
import { recall } from "../catalog/catalog.memory";
import { productKey } from "../catalog/catalog.service";
import { CheckoutRequest } from "../checkout/checkout.schemas";
import { refusalIfKnownSoldOut, soldOutResponse } from "../checkout/checkout.service";
import { fingerprint, keyHashOf, parseIdempotencyKey } from "../checkout/idempotency";
import { bearerOf, joinsDue, roomOfEntry, ticketStatus } from "../drops/waiting-room";
import { remembersAnySoldOut } from "../inventory/inventory.holds";
import { orderShard, shardOfKey } from "../orders/shards";
import { isJsonMediaType, MAX_BODY_BYTES } from "./body";
import { REQUEST_ID_HEADER, requestIdOf } from "./request-id";
import { writeAccessLog } from "./request-log";

/**
 * The two answers a flash sale asks for most, given before the router when this isolate already
 * knows them from memory: a product it read moments ago, and the refusal of a checkout whose SKUs
 * it knows are sold out. Each is the answer the routed request would get, headers included; a
 * request that is not certain to get it (anything unusual, anything not in memory) goes on to the
 * router unchanged. A product read does no I/O; a refusal asks one question of the key's order shard
 * (does the key already hold an answer?), which no correct refusal can skip.
 */
type HotOutcome = { response: Response } | { request: Request };
type Route = (request: Request) => Response | Promise<Response>;

const PRODUCT_PREFIX = "/v1/products/";
const DROPS_PREFIX = "/v1/drops/";
const STATUS_SUFFIX = "/status";

export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/** Answers from memory when it can (synchronously for reads), else hands the request to `route`. */
export function answerHot(request: Request, env: Env, route: Route): Response | Promise<Response> {
  const started = performance.now();
  const path = pathOf(request.url);
  if (request.method === "GET" && path.startsWith(PRODUCT_PREFIX)) {
    const held = heldProduct(request, env, path.slice(PRODUCT_PREFIX.length));
    return held ? logged(env, request, path, held, started) : route(request);
  }
  if (request.method === "GET" && path.startsWith(DROPS_PREFIX) && path.endsWith(STATUS_SUFFIX)) {
    const idOrSlug = path.slice(DROPS_PREFIX.length, -STATUS_SUFFIX.length);
    return heldStatus(request, env, idOrSlug).then((response) =>
      response ? logged(env, request, path, response, started) : route(request),
    );
  }
  if (request.method === "POST" && path === "/v1/checkout") {
    return refusedCheckout(request, env).then((outcome) =>
      "response" in outcome ? logged(env, request, path, outcome.response, started) : route(outcome.request),
    );
  }
  return route(request);
}

function logged(env: Env, request: Request, path: string, response: Response, started: number) {
  writeAccessLog(
    env,
    {
      method: request.method,
      path,
      status: response.status,
      durationMs: performance.now() - started,
      requestId: response.headers.get(REQUEST_ID_HEADER) ?? "",
      ...(response.status < 400 ? { cache: "memory" as const } : {}),
    },
    true,
  );
  return response;
}

/** A product read moments ago, by the id or slug exactly as the router saw it (no escapes). */
function heldProduct(request: Request, env: Env, idOrSlug: string): Response | null {
  if (idOrSlug === "" || idOrSlug.includes("/") || idOrSlug.includes("%")) return null;
  // Only reads the routed path validated and served are held, so the key is known to be sane.
  const entry = recall(productKey(idOrSlug));
  if (!entry) return null;
  return catalogAnswer(env, entry, "memory", request.headers.get("If-None-Match"), {
    [REQUEST_ID_HEADER]: requestIdOf(request.headers),
  });
}

/**
 * A drop ticket's standing, when this isolate holds the drop's product: the crowd's most frequent
 * question, answered without the router. Anything else (an unknown drop, a bad ticket, a room that
 * cannot be asked, joins waiting to be handed on) goes the routed way, which answers it in full.
 */
async function heldStatus(request: Request, env: Env, idOrSlug: string): Promise<Response | null> {
  if (idOrSlug === "" || idOrSlug.includes("/") || idOrSlug.includes("%") || joinsDue()) return null;
  const entry = recall(productKey(idOrSlug));
  try {
    const room = entry ? roomOfEntry(entry) : null;
    if (!room) return null;
    const status = await ticketStatus(env, room, bearerOf(request.headers.get("Authorization")));
    return new Response(JSON.stringify(status), {
      status: 200,
      headers: {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        [REQUEST_ID_HEADER]: requestIdOf(request.headers),
      },
    });
  } catch {
    return null;
  }
}

/**
 * A checkout for SKUs this isolate knows are sold out, refused before anything is held or written,
 * once the key's shard says the key holds no answer yet (a retry of a placed order gets its 202). The
 * body has to be read to know its SKUs (only once this isolate knows of some sold-out SKU); when the
 * refusal does not apply, the request goes on with the same bytes.
 */
async function refusedCheckout(request: Request, env: Env): Promise<HotOutcome> {
  // Before anything sells out, checkouts are not read twice.
  if (!remembersAnySoldOut()) return { request };
  const length = Number(request.headers.get("Content-Length") ?? Number.NaN);
  if (!(length > 0 && length <= MAX_BODY_BYTES)) return { request };
  if (!isJsonMediaType(request.headers.get("Content-Type"))) return { request };
  let key: string;
  try {
    key = parseIdempotencyKey(request.headers.get("Idempotency-Key") ?? undefined);
  } catch {
    return { request };
  }
  const text = await request.text();
  const routed = () => ({ request: new Request(request, { body: text }) });
  const body = parsedCheckout(text);
  const problem = body && refusalIfKnownSoldOut(body);
  if (!body || !problem) return routed();
  const [keyHash, print] = await Promise.all([keyHashOf(key), fingerprint(body)]);
  const known = await orderShard(env, shardOfKey(env, keyHash))
    .lookupKey(key, keyHash, print)
    .catch(() => null);
  // A key with an answer (or a shard that did not answer) goes the routed way.
  if (known?.kind !== "fresh") return routed();
  return { response: soldOutResponse(problem, requestIdOf(request.headers)) };
}

function parsedCheckout(text: string): CheckoutRequest | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = CheckoutRequest.safeParse(body);
  return parsed.success ? parsed.data : null;
}
