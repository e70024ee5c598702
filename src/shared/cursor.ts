import type { z } from "zod";
import { AppError } from "../errors";

/** Opaque pagination cursors: base64url JSON, checked against a schema when they come back. */
export function encodeCursor(value: object): string {
  return btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  try {
    return schema.parse(JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/"))));
  } catch {
    throw new AppError("invalid_cursor", { detail: "The cursor is not one this API issued" });
  }
}
