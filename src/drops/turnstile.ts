import { AppError } from "../shared/errors";
import { logEvent } from "../shared/log";

const SITEVERIFY = "https://challenges.cloudflare.com/turnstile/v0/siteverify";
/** The action the storefront's widget is rendered with for joining a drop's line. */
const JOIN_ACTION = "join";

/** Whether this isolate has said that it lets buyers join without a bot check. */
let uncheckedAnnounced = false;

/** Without `TURNSTILE_SECRET`, joining is refused unless the shop said it may go unchecked. */
function allowUnchecked(env: Env) {
  if (env.ALLOW_UNCHECKED_JOINS === "true") {
    if (!uncheckedAnnounced) {
      uncheckedAnnounced = true;
      logEvent("error", "a drop's waiting room takes joins with no bot check", {
        problem: "TURNSTILE_SECRET is not set and ALLOW_UNCHECKED_JOINS is true",
      });
    }
    return;
  }
  logEvent("error", "a drop's waiting room refused a join: no bot check is configured", {
    problem: "TURNSTILE_SECRET is not set (or ALLOW_UNCHECKED_JOINS=true to open rooms unchecked)",
  });
  throw new AppError("waiting_room_not_configured", {
    detail: "This waiting room is not open yet; try again later",
    headers: { "Retry-After": "300" },
  });
}

/**
 * Bot friction on joining a drop's line: the token the Turnstile widget gave the buyer is checked
 * server-side with siteverify (which accepts each token once), before any ticket is signed, and must
 * have been made on this shop's host for this action. Without `TURNSTILE_SECRET`, see allowUnchecked.
 */
export async function checkTurnstile(
  env: Env,
  token: string | undefined,
  { ip, hostname }: { ip: string | undefined; hostname: string },
) {
  const secret = env.TURNSTILE_SECRET;
  if (!secret) return allowUnchecked(env);
  if (!token) {
    throw new AppError("turnstile_required", { detail: "Joining this queue needs a Turnstile token" });
  }
  const form = new URLSearchParams({ secret, response: token, ...(ip ? { remoteip: ip } : {}) });
  let answer: { success?: boolean; "error-codes"?: string[]; hostname?: string; action?: string };
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
  // A token solved on another site, or for another of its actions, is not this join's.
  if (answer.hostname !== hostname || answer.action !== JOIN_ACTION) {
    logEvent("warn", "turnstile token for another host or action", {
      hostname: answer.hostname,
      action: answer.action,
    });
    throw new AppError("turnstile_failed", {
      detail: "The Turnstile token was not made for joining this shop's queue",
      extensions: { errorCodes: ["hostname-or-action-mismatch"] },
    });
  }
}
