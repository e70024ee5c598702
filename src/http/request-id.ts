import { createMiddleware } from "hono/factory";
import { ulid } from "../shared/ids";

export type RequestIdVariables = { requestId: string };

export const REQUEST_ID_HEADER = "X-Request-Id";
/** A caller's id is echoed only when it looks like an id, never arbitrary text into our logs. */
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is sane, or a new one. */
export function requestIdOf(headers: Headers): string {
  const incoming = headers.get(REQUEST_ID_HEADER);
  return incoming && SANE_ID.test(incoming) ? incoming : ulid();
}

export function requestId() {
  return createMiddleware<{ Variables: RequestIdVariables }>(async function requestIdMiddleware(c, next) {
    const id = requestIdOf(c.req.raw.headers);
    c.set("requestId", id);
    await next();
    c.header(REQUEST_ID_HEADER, id);
  });
}
