import { OpenAPIHono } from "@hono/zod-openapi";
import { validationError } from "../shared/errors";
import type { AppEnv } from "./app-env";

const targets: Record<string, string> = { json: "body", query: "query", param: "path", header: "header" };

/** Every router shares one validation hook, so a zod failure always becomes the same 400 problem. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook(result) {
      if (!result.success) throw validationError(result.error, targets[result.target] ?? result.target);
    },
  });
}
