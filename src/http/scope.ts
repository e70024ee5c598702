import type { Context } from "hono";
import { logEvent } from "../shared/log";
import type { AppEnv } from "./app-env";

/** What a service needs from the request around it: bindings, the origin its cache keys live on, and waitUntil. */
export type Scope = {
  env: Env;
  origin: string;
  waitUntil: (promise: Promise<unknown>) => void;
};

export function scopeOf(c: Context<AppEnv>): Scope {
  return {
    env: c.env,
    origin: new URL(c.req.url).origin,
    waitUntil: (promise) => c.executionCtx.waitUntil(promise),
  };
}

/** Runs work after the response without letting its failure go unseen. */
export function background(scope: Scope, what: string, promise: Promise<unknown>) {
  scope.waitUntil(
    promise.catch((error: unknown) => logEvent("warn", `${what} failed`, { error: String(error) })),
  );
}
