import { z } from "@hono/zod-openapi";

/**
 * Free text as a shop wants it stored: well-formed Unicode (no lone surrogates), no control
 * characters, and no bidirectional overrides or isolates, which can make stored text read differently
 * from what it is (a name that displays as another, an address that reorders itself).
 */
const CONTROL = /\p{Cc}/u;
const CONTROL_BUT_LINES = /(?![\t\n\r])\p{Cc}/u;
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;

function clean(schema: z.ZodString, control: RegExp) {
  return schema
    .refine((text) => text.isWellFormed(), "Text must be well-formed Unicode (no lone surrogates)")
    .refine((text) => !control.test(text), "Text must not contain control characters")
    .refine((text) => !BIDI_CONTROL.test(text), "Text must not contain bidirectional overrides");
}

/** One line of text, trimmed: a name, an address line, a title. */
export function singleLine(max: number, min = 1) {
  return clean(z.string().trim().min(min).max(max), CONTROL);
}

/** Text that may span lines (tabs and line breaks allowed): a description. */
export function multiLine(max: number) {
  return clean(z.string().max(max), CONTROL_BUT_LINES);
}

/** A token or key that travels as it is: visible ASCII only, no spaces. */
export function visibleAscii(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .regex(/^[\x21-\x7E]+$/, "Visible ASCII characters only, no spaces");
}
