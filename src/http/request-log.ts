import { createMiddleware } from "hono/factory";
import type { RequestIdVariables } from "./request-id";

/** Which layer answered a read: the Cache API, KV, D1, or a stale copy served because D1 failed. */
export type CacheLayer = "cache" | "kv" | "d1" | "stale";

export type RequestLogVariables = { cacheLayer: CacheLayer | undefined };

export type RequestLogOptions = {
  write?: (line: string) => void;
};

/** One structured JSON line per request. */
export function requestLog(options: RequestLogOptions = {}) {
  const write = options.write ?? ((line: string) => console.log(line));
  return createMiddleware<{ Variables: RequestIdVariables & RequestLogVariables }>(
    async function requestLogMiddleware(c, next) {
      const started = performance.now();
      await next();
      write(
        JSON.stringify({
          level: c.res.status >= 500 ? "error" : "info",
          msg: "request",
          method: c.req.method,
          path: c.req.path,
          status: c.res.status,
          durationMs: Math.round((performance.now() - started) * 100) / 100,
          requestId: c.get("requestId"),
          cache: c.get("cacheLayer"),
        }),
      );
    },
  );
}
