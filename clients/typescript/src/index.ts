/**
 * A typed client for Stampede's HTTP API: openapi-fetch over the paths generated (openapi-typescript,
 * `npm run api` in the repository) from the document the worker serves at /openapi.json. Every path,
 * parameter, body and answer is typed from that document, errors included (problem+json).
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, operations, paths } from "./schema";

export type { components, operations, paths };

/** The answer types by schema name: `Schemas["Order"]`, `Schemas["Problem"]`, … */
export type Schemas = components["schemas"];

export type StampedeClient = Client<paths>;

export interface StampedeOptions extends Omit<ClientOptions, "baseUrl"> {
  /** The shop's origin: `http://localhost:8787` for `npm start`, or a deployment's. */
  baseUrl: string;
  /**
   * The credential the calls carry as `Authorization: Bearer …`: the `orderToken` checkout returned
   * (for GET /v1/orders/{id}, check-payment, cancel), a drop ticket (for a drop's status), or the
   * shop's ADMIN_TOKEN (for /v1/admin/…). Public calls need none. One client per credential.
   */
  token?: string;
}

/** A client for one shop and, optionally, one credential. */
export function createStampedeClient({
  baseUrl,
  token,
  headers,
  ...options
}: StampedeOptions): StampedeClient {
  return createClient<paths>({
    ...options,
    baseUrl,
    headers: token ? { ...headers, Authorization: `Bearer ${token}` } : headers,
  });
}

/**
 * An Idempotency-Key for POST /v1/checkout: one per purchase attempt, reused when the same attempt
 * is retried (a timeout, a 503), so a retry never places a second order.
 */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
