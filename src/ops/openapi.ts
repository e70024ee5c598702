/**
 * The OpenAPI document as served. The routes declare their own parameters, bodies and answers; what
 * the middleware enforces for every route is added here, in one place, as it is enforced in one
 * place: 413 and 415 on every operation with a body (the body gate), `Retry-After` on every 429 and
 * 503, and `security: []` on every operation that declares none (it is public).
 */
type Response = { description: string; headers?: Record<string, unknown>; content?: unknown };
type Operation = {
  security?: unknown[];
  requestBody?: unknown;
  responses: Record<string, Response>;
};
type Document = {
  servers?: { url: string; description?: string }[];
  paths?: Record<string, Record<string, Operation>>;
};

const problem = { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } };

const retryAfter = {
  "Retry-After": {
    description: "Seconds to wait before retrying",
    schema: { type: "integer", minimum: 0 },
  },
};

const bodyProblems: Record<string, Response> = {
  413: { description: "Body over 64 KiB (code payload_too_large)", content: problem },
  415: {
    description: "Content-Type is not application/json (code unsupported_media_type)",
    content: problem,
  },
};

export function finishDocument<T extends object>(generated: T, origin: string): T {
  const doc = structuredClone(generated) as T & Document;
  doc.servers = [{ url: origin, description: "This deployment" }];
  for (const operations of Object.values(doc.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      operation.security ??= [];
      if (operation.requestBody) {
        for (const [status, response] of Object.entries(bodyProblems))
          operation.responses[status] ??= response;
      }
      for (const status of ["429", "503"]) {
        const response = operation.responses[status];
        if (response) response.headers = { ...retryAfter, ...response.headers };
      }
    }
  }
  return doc;
}
