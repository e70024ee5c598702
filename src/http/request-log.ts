import { createMiddleware } from "hono/factory";
import { settings } from "../shared/config";
import type { RequestIdVariables } from "./request-id";

/** Which layer answered a read: isolate memory, the Cache API, KV, D1, or a stale copy served because D1 failed. */
export type CacheLayer = "memory" | "cache" | "kv" | "d1" | "stale";

export type RequestLogVariables = { cacheLayer: CacheLayer | undefined; routine: boolean | undefined };

export type AccessLine = {
  method: string;
  path: string;
  status: number;
  durationMs: number;
  requestId: string;
  cache?: CacheLayer | undefined;
};

export type RequestLogOptions = {
  write?: (line: string) => void;
};

const defaultWrite = (line: string) => console.log(line);

/**
 * One structured JSON line per request, except for routine answers (a catalog read from memory or
 * the Cache API, a sold-out refusal), of which only `ACCESS_LOG_SAMPLE_RATE` are written: in a flash
 * sale those are most of the traffic, and a line costs the isolate more than answering them does.
 * Failures are always written; Workers Logs records every invocation either way.
 */
export function writeAccessLog(
  env: Env,
  line: AccessLine,
  routine: boolean,
  write: (line: string) => void = defaultWrite,
) {
  const rate = settings(env).accessLogSampleRate;
  if (routine && line.status < 500 && Math.random() >= rate) return;
  write(
    JSON.stringify({
      level: line.status >= 500 ? "error" : "info",
      msg: "request",
      ...line,
      durationMs: Math.round(line.durationMs * 100) / 100,
      ...(routine ? { sampled: rate } : {}),
    }),
  );
}

export function requestLog(options: RequestLogOptions = {}) {
  const write = options.write ?? defaultWrite;
  return createMiddleware<{ Bindings: Env; Variables: RequestIdVariables & RequestLogVariables }>(
    async function requestLogMiddleware(c, next) {
      const started = performance.now();
      await next();
      const cache = c.get("cacheLayer");
      writeAccessLog(
        c.env,
        {
          method: c.req.method,
          path: c.req.path,
          status: c.res.status,
          durationMs: performance.now() - started,
          requestId: c.get("requestId"),
          cache,
        },
        c.get("routine") ?? (cache === "memory" || cache === "cache"),
        write,
      );
    },
  );
}
