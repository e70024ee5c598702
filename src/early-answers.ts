import { heldProductAnswer } from "./catalog/catalog.http";
import { heldDropStatus } from "./drops/drops.routes";
import { REQUEST_ID_HEADER, requestIdOf } from "./http/request-id";
import { writeAccessLog } from "./http/request-log";
import { setBaseHeaders } from "./http/security-headers";
import { earlySoldOutRefusal } from "./orders/intake/checkout.service";

/**
 * The answers a sale asks for most, given before routing when this isolate's memory makes them
 * certain: a product read moments ago, a drop ticket's standing, and the refusal of a checkout whose
 * SKUs are known to be sold out. Each comes from the function its route answers with, so it is the
 * routed answer; this adds what the router's middleware adds (the request id, the access log line).
 * Anything unusual, or not held in memory, goes on to the router unchanged (a checkout's body intact).
 */
type Route = (request: Request) => Response | Promise<Response>;

const PRODUCT_PREFIX = "/v1/products/";
const DROPS_PREFIX = "/v1/drops/";
const STATUS_SUFFIX = "/status";

export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/** A path segment exactly as the router would see it: no escapes, no further segments. */
const plainSegment = (segment: string) => segment !== "" && !segment.includes("/") && !segment.includes("%");

/** Answers from memory when it can (synchronously for product reads), else hands the request to `route`. */
export function answerEarly(request: Request, env: Env, route: Route): Response | Promise<Response> {
  const started = performance.now();
  const path = pathOf(request.url);
  if (request.method === "GET" && path.startsWith(PRODUCT_PREFIX)) {
    const idOrSlug = path.slice(PRODUCT_PREFIX.length);
    const held = plainSegment(idOrSlug)
      ? heldProductAnswer(env, idOrSlug, request.headers.get("If-None-Match"), {
          [REQUEST_ID_HEADER]: requestIdOf(request.headers),
        })
      : null;
    return held ? logged(env, request, path, held, started) : route(request);
  }
  if (request.method === "GET" && path.startsWith(DROPS_PREFIX) && path.endsWith(STATUS_SUFFIX)) {
    const idOrSlug = path.slice(DROPS_PREFIX.length, -STATUS_SUFFIX.length);
    if (!plainSegment(idOrSlug)) return route(request);
    return heldDropStatus(env, idOrSlug, request.headers.get("Authorization")).then((response) =>
      response ? logged(env, request, path, withRequestId(request, response), started) : route(request),
    );
  }
  if (request.method === "POST" && path === "/v1/checkout") {
    return earlySoldOutRefusal(request, env).then((outcome) =>
      "response" in outcome ? logged(env, request, path, outcome.response, started) : route(outcome.request),
    );
  }
  return route(request);
}

function withRequestId(request: Request, response: Response): Response {
  response.headers.set(REQUEST_ID_HEADER, requestIdOf(request.headers));
  return response;
}

function logged(env: Env, request: Request, path: string, response: Response, started: number) {
  setBaseHeaders(response.headers);
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
