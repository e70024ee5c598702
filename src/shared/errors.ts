import type { ZodError } from "zod";

/** `in` says which part of the request the path points into: body, query, path or header. */
export type FieldError = { path: string; message: string; in: string };

/** Every stable machine code the API can answer with, and the status it maps to. */
const codes = {
  validation_failed: [400, "Request validation failed"],
  invalid_json: [400, "Malformed JSON body"],
  invalid_cursor: [400, "Invalid pagination cursor"],
  idempotency_key_missing: [400, "Idempotency-Key header missing"],
  idempotency_key_invalid: [400, "Idempotency-Key header invalid"],
  unauthorized: [401, "Unauthorized"],
  not_found: [404, "Not found"],
  product_not_found: [404, "Product not found"],
  order_not_found: [404, "Order not found"],
  sku_not_found: [404, "SKU not found"],
  challenge_not_found: [404, "Payment challenge not found"],
  drop_not_found: [404, "Drop not found"],
  draw_not_found: [404, "Draw not found"],
  draw_entry_not_found: [404, "Draw entry not found"],
  ticket_invalid: [403, "Queue ticket invalid"],
  draw_entry_token_invalid: [403, "Draw entry token invalid"],
  admission_pass_required: [403, "Admission pass required"],
  admission_pass_invalid: [403, "Admission pass invalid"],
  admission_pass_expired: [403, "Admission pass expired"],
  admission_pass_used: [403, "Admission pass already used"],
  turnstile_required: [403, "Turnstile token required"],
  turnstile_failed: [403, "Turnstile token not accepted"],
  webhook_endpoint_not_found: [404, "Webhook endpoint not found"],
  webhook_dead_letter_not_found: [404, "Webhook dead letter not found"],
  method_not_allowed: [405, "Method not allowed"],
  slug_taken: [409, "Slug already in use"],
  sku_taken: [409, "SKU already in use"],
  stock_below_reserved: [409, "Stock would fall below what is reserved"],
  insufficient_stock: [409, "Insufficient stock"],
  idempotency_key_in_use: [409, "Idempotency-Key in use"],
  order_not_cancellable: [409, "Order can no longer be cancelled"],
  order_not_refundable: [409, "Order cannot be refunded"],
  refund_exceeds_captured: [409, "Refund exceeds what is left of the charge"],
  order_not_fulfillable: [409, "Order cannot be fulfilled"],
  fulfillment_import_invalid: [422, "Fulfilment file has invalid rows"],
  email_not_found: [404, "Email not found"],
  discount_not_found: [404, "Discount code not found"],
  sale_not_started: [409, "The sale has not started"],
  purchase_limit_exceeded: [409, "Purchase limit exceeded"],
  draw_not_open: [409, "The draw does not take entries yet"],
  draw_closed: [409, "The draw is closed"],
  draw_not_closed: [409, "The draw has not closed yet"],
  draw_already_entered: [409, "Already entered in this draw"],
  draw_card_used: [409, "This card is already in the draw"],
  draw_exists: [409, "The product already has another draw"],
  draw_not_cancellable: [409, "The draw can no longer be cancelled"],
  draw_stock_short: [409, "Not enough stock to hold for the draw"],
  discount_exhausted: [409, "Discount code used up"],
  discount_code_taken: [409, "Discount code already exists"],
  webhook_endpoint_limit: [409, "Too many webhook endpoints"],
  webhook_endpoint_disabled: [409, "Webhook endpoint disabled"],
  settings_changed: [412, "Settings changed since they were read"],
  payload_too_large: [413, "Payload too large"],
  unsupported_media_type: [415, "Unsupported media type"],
  idempotency_key_mismatch: [422, "Idempotency-Key reused with a different body"],
  discount_not_applicable: [422, "Discount code does not apply"],
  shipping_unavailable: [422, "No shipping to this address"],
  amount_below_minimum: [422, "Order total below the smallest charge"],
  draw_sku_not_drawn: [422, "This SKU is not drawn"],
  payment_declined: [402, "Payment declined"],
  payment_token_invalid: [422, "Payment token invalid"],
  webhook_signature_invalid: [400, "Webhook signature invalid"],
  webhooks_not_configured: [503, "Webhooks are not configured"],
  rate_limited: [429, "Too many requests"],
  internal_error: [500, "Internal server error"],
  service_unavailable: [503, "Service unavailable"],
  payments_not_configured: [503, "This shop cannot take payments"],
  waiting_room_not_configured: [503, "Waiting rooms are not configured"],
  draw_not_configured: [503, "Draws are not configured"],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof codes;

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  requestId: string;
  errors?: FieldError[];
  [extension: string]: unknown;
};

type ProblemOptions = {
  detail?: string;
  errors?: FieldError[];
  /** Extra members of the problem document (RFC 9457 extensions), e.g. `skus`. */
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
  cause?: unknown;
};

/** The single error type of the service: a stable `code` that maps to a status and a problem+json body. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly errors: FieldError[] | undefined;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, options: ProblemOptions = {}) {
    const [status, title] = codes[code];
    super(options.detail ?? title, { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.status = status;
    this.title = title;
    this.errors = options.errors;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  toProblem(requestId: string): ProblemBody {
    return problemDocument(
      { code: this.code, detail: this.message, errors: this.errors, extensions: this.extensions },
      requestId,
    );
  }
}

/** An answered problem that is not a failure (a refusal given every second in a sale): no Error, no stack. */
export type Problem = ProblemOptions & { code: ErrorCode };

function problemDocument(problem: Problem, requestId: string): ProblemBody {
  const [status, title] = codes[problem.code];
  return {
    ...problem.extensions,
    type: `https://stampede.dev/problems/${problem.code.replaceAll("_", "-")}`,
    title,
    status,
    detail: problem.detail ?? title,
    code: problem.code,
    requestId,
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
}

/** Turns a zod failure into field errors whose paths a client can point at (`items.0.quantity`). */
export function validationError(error: ZodError, target: string): AppError {
  const errors = error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    // One entry per unknown field, pointing at the field itself rather than at its parent object.
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        path: [...path, key].join("."),
        message: "Unknown field",
        in: target,
      }));
    }
    return [{ path: path.join("."), message: issue.message, in: target }];
  });
  return new AppError("validation_failed", {
    detail: `${errors.length} invalid field${errors.length === 1 ? "" : "s"} in the request ${target}`,
    errors,
  });
}

export function problemResponse(problem: AppError | Problem, requestId: string): Response {
  const document =
    problem instanceof AppError ? problem.toProblem(requestId) : problemDocument(problem, requestId);
  return new Response(JSON.stringify(document), {
    status: document.status,
    headers: {
      ...problem.headers,
      "Content-Type": "application/problem+json",
      "Cache-Control": "no-store",
    },
  });
}
