import type { RequestIdVariables } from "./http/request-id";
import type { RequestLogVariables } from "./http/request-log";

/** The one typed environment every route and middleware shares. */
export type AppEnv = {
  Bindings: Env;
  Variables: RequestIdVariables & RequestLogVariables;
};
