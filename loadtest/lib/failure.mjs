// How a harness failure is told: one line naming what failed and why, down the error's cause chain
// (undici's "fetch failed" says nothing until its cause: `connect ECONNREFUSED 127.0.0.1:8787`),
// with the codes a reader greps for (ECONNREFUSED, ECONNRESET, EADDRINUSE, ERR_ADDRESS_IN_USE).

/** The codes along an error's cause chain (and inside AggregateErrors), outermost first. */
export function errorCodes(error) {
  const codes = [];
  walk(error, (e) => {
    if (typeof e?.code === "string" && !codes.includes(e.code)) codes.push(e.code);
  });
  return codes;
}

/**
 * `message: cause's message: ... [CODE, ...]`, each message once; the codes left out with
 * `{ codes: false }` (for an error that wraps this one and will be described in turn).
 */
export function describeError(error, { codes: withCodes = true } = {}) {
  const messages = [];
  walk(error, (e) => {
    const text = e instanceof Error || typeof e?.message === "string" ? e.message : String(e);
    const line = String(text).split("\n")[0].trim();
    if (line && !messages.some((m) => m.includes(line))) messages.push(line);
  });
  const codes = withCodes ? errorCodes(error) : [];
  return `${messages.join(": ") || String(error)}${codes.length ? ` [${codes.join(", ")}]` : ""}`;
}

function walk(error, visit, seen = new Set()) {
  if (error === undefined || error === null || seen.has(error)) return;
  seen.add(error);
  visit(error);
  if (Array.isArray(error.errors)) for (const inner of error.errors) walk(inner, visit, seen);
  walk(error.cause, visit, seen);
}

/** Network failures a real client sees now and then: the request failed, the run goes on. */
const TRANSIENT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_CLOSED",
]);

export function isTransientNetworkError(error) {
  return errorCodes(error).some((code) => TRANSIENT.has(code));
}

/**
 * For a command's entry: an error nothing caught (a rejected top-level await included) ends it with
 * one line, `<label> FAILED: <reason> [CODES]`, and exit code 4, never Node's uncaught-error dump.
 */
export function reportUncaught(label) {
  const fail = (error) => {
    console.error(`${label} FAILED: ${describeError(error)}`);
    if (process.env.LOADTEST_DEBUG && error?.stack) console.error(error.stack);
    process.exit(4);
  };
  process.on("uncaughtException", fail);
  process.on("unhandledRejection", fail);
}
