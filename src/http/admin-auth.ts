import { createMiddleware } from "hono/factory";
import { AppError } from "../shared/errors";

const encoder = new TextEncoder();

/**
 * Compares two secrets without leaking where they differ: both sides are hashed first so that
 * the comparison always runs over equal lengths, then compared with the runtime's constant-time check.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** Whether an `Authorization` header carries the admin token (never when no token is set). */
export async function isAdmin(env: Env, authorization: string | undefined): Promise<boolean> {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
  return Boolean(env.ADMIN_TOKEN && given && (await secretsEqual(given, env.ADMIN_TOKEN)));
}

export type AdminAuthOptions = {
  /** Reads the expected token; the binding is a secret in production and `.dev.vars` locally. */
  token: (env: Env) => string | undefined;
};

export function adminAuth(options: AdminAuthOptions = { token: (env) => env.ADMIN_TOKEN }) {
  return createMiddleware<{ Bindings: Env }>(async function adminAuthMiddleware(c, next) {
    const expected = options.token(c.env);
    const header = c.req.header("Authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // An unset token locks the admin API rather than opening it.
    if (!expected || !match?.[1] || !(await secretsEqual(match[1], expected))) {
      throw new AppError("unauthorized", {
        detail: "A valid admin bearer token is required",
        headers: { "WWW-Authenticate": 'Bearer realm="stampede-admin"' },
      });
    }
    await next();
  });
}
