import { AppError } from "../shared/errors";
import { logEvent } from "../shared/log";

const SITEVERIFY = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/**
 * Bot friction on joining a drop's line, when the shop set `TURNSTILE_SECRET`: the token the
 * Turnstile widget gave the buyer is checked server-side with siteverify (which accepts each token
 * once), before any ticket is signed. Without a secret, joining needs no token.
 */
export async function checkTurnstile(env: Env, token: string | undefined, ip: string | undefined) {
  const secret = env.TURNSTILE_SECRET;
  if (!secret) return;
  if (!token) {
    throw new AppError("turnstile_required", { detail: "Joining this queue needs a Turnstile token" });
  }
  const form = new URLSearchParams({ secret, response: token, ...(ip ? { remoteip: ip } : {}) });
  let answer: { success?: boolean; "error-codes"?: string[] };
  try {
    const response = await fetch(env.TURNSTILE_VERIFY_URL || SITEVERIFY, {
      method: "POST",
      body: form,
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`siteverify answered ${response.status}`);
    answer = await response.json();
  } catch (error) {
    logEvent("warn", "turnstile siteverify failed", { error: String(error) });
    throw new AppError("service_unavailable", {
      detail: "The bot check could not be made; try again in a moment",
      headers: { "Retry-After": "2" },
      cause: error,
    });
  }
  if (!answer.success) {
    throw new AppError("turnstile_failed", {
      detail: `The Turnstile token was not accepted (${(answer["error-codes"] ?? []).join(", ") || "no reason given"})`,
      extensions: { errorCodes: answer["error-codes"] ?? [] },
    });
  }
}
