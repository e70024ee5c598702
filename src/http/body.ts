import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { AppError } from "../shared/errors";

export const MAX_BODY_BYTES = 64 * 1024;

/** Caps request bodies (413), including chunked bodies that announce no length. */
export function limitBody(maxSize = MAX_BODY_BYTES) {
  return bodyLimit({
    maxSize,
    onError() {
      throw new AppError("payload_too_large", { detail: `Request bodies are limited to ${maxSize} bytes` });
    },
  });
}

const jsonMediaType = /^application\/([\w.-]+\+)?json$/i;

/** `application/json` or any `+json` type, parameters aside. */
export function isJsonMediaType(contentType: string | null | undefined): boolean {
  return jsonMediaType.test((contentType ?? "").split(";")[0]?.trim() ?? "");
}

/** A write that carries a body must say it is JSON; anything else is refused before it is parsed. */
export function requireJsonBody() {
  return createMiddleware(async function requireJsonBodyMiddleware(c, next) {
    const hasBody = c.req.raw.body !== null && c.req.header("Content-Length") !== "0";
    if (hasBody && !isJsonMediaType(c.req.header("Content-Type"))) {
      throw new AppError("unsupported_media_type", { detail: "Request bodies must be application/json" });
    }
    await next();
  });
}
