import type { z } from "zod";
import { base64url } from "./crypto";
import { AppError } from "./errors";

/** Opaque pagination cursors: base64url JSON, checked against a schema when they come back. */
export function encodeCursor(value: object): string {
  return base64url(new TextEncoder().encode(JSON.stringify(value)));
}

export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  try {
    return schema.parse(JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))));
  } catch {
    throw new AppError("invalid_cursor", { detail: "The cursor is not one this API issued" });
  }
}
