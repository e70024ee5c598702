import { createMiddleware } from "hono/factory";
import { ulid } from "../ids";

export type RequestIdVariables = { requestId: string };

export type RequestIdOptions = {
  headerName?: string;
  /** A caller's id is echoed only when it looks like an id, never arbitrary text into our logs. */
  accept?: RegExp;
};

export function requestId(options: RequestIdOptions = {}) {
  const headerName = options.headerName ?? "X-Request-Id";
  const accept = options.accept ?? /^[A-Za-z0-9._:-]{1,128}$/;
  return createMiddleware<{ Variables: RequestIdVariables }>(async function requestIdMiddleware(c, next) {
    const incoming = c.req.header(headerName);
    const id = incoming && accept.test(incoming) ? incoming : ulid();
    c.set("requestId", id);
    await next();
    c.header(headerName, id);
  });
}
