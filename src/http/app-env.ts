import type { RequestIdVariables } from "./request-id";
import type { RequestLogVariables } from "./request-log";
import type { SecurityHeadersVariables } from "./security-headers";

/** The one typed environment every route and middleware shares. */
export type AppEnv = {
  Bindings: Env;
  Variables: RequestIdVariables & RequestLogVariables & SecurityHeadersVariables;
};
