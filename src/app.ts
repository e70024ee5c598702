import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { adminDashboardRoutes } from "./admin/dashboard.routes";
import { adminDiscountRoutes } from "./admin/discounts.routes";
import { adminDrawRoutes } from "./admin/draws.routes";
import { emailPreviewRoutes } from "./admin/email-preview.routes";
import { adminInventoryRoutes } from "./admin/inventory.routes";
import { adminOrderActionRoutes } from "./admin/order-actions.routes";
import { adminOrderRoutes } from "./admin/orders.routes";
import { adminPricingRoutes } from "./admin/pricing.routes";
import { adminProductRoutes } from "./admin/products.routes";
import { catalogRoutes } from "./catalog/catalog.routes";
import { dropRoutes } from "./drops/drops.routes";
import { adminAuth } from "./http/admin-auth";
import { methodsByPath } from "./http/allowed-methods";
import { limitBody, requireJsonBody } from "./http/body";
import { requestId } from "./http/request-id";
import { requestLog } from "./http/request-log";
import { createRouter } from "./http/router";
import { securityHeaders } from "./http/security-headers";
import { inventoryRoutes } from "./inventory/inventory.routes";
import { DOCS_POLICY, renderDocs } from "./ops/docs";
import { faultRoutes } from "./ops/faults";
import { finishDocument } from "./ops/openapi";
import { opsRoutes } from "./ops/ops.routes";
import { drawRoutes } from "./orders/draw/draw.routes";
import { checkoutRoutes } from "./orders/intake/checkout.routes";
import { orderRoutes } from "./orders/orders.routes";
import { webhookRoutes } from "./orders/payment/stripe-events.routes";
import { simulatorRoutes } from "./payments/simulator.routes";
import { pricingRoutes } from "./pricing/pricing.routes";
import { quoteRoutes } from "./pricing/quotes.routes";
import { AppError, problemResponse } from "./shared/errors";
import { ulid } from "./shared/ids";
import { logEvent } from "./shared/log";
import { notFoundPage } from "./storefront/pages";
import { storefrontRoutes } from "./storefront/storefront.routes";
import { orderEventWebhook, webhookAdminRoutes } from "./webhooks/webhooks.routes";

const FULFILLMENT_FILE_BYTES = 4 * 1024 * 1024;

const OPENAPI = {
  openapi: "3.1.0",
  info: {
    title: "Stampede",
    version: "1.0.0",
    description:
      "Commerce backend for traffic spikes: an edge-cached catalog, race-free inventory and checkout that never loses an order.",
    license: { name: "Proprietary" },
  },
};

/**
 * A binding that failed (D1, KV, a Durable Object, a queue): Durable Object errors say `retryable` or
 * `overloaded`; the others name themselves in their message. The client gets a 503 and should retry.
 */
function isDependencyFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const flags = error as Error & { retryable?: boolean; overloaded?: boolean };
  if (flags.retryable || flags.overloaded) return true;
  return /D1_|Durable Object|Network connection lost|KV |Queue|storage/i.test(
    `${error.message} ${String(error.cause ?? "")}`,
  );
}

function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isDependencyFailure(error)) {
    return new AppError("service_unavailable", {
      detail: "A service this request depends on is unavailable; retry shortly",
      headers: { "Retry-After": "1" },
      cause: error,
    });
  }
  if (error instanceof HTTPException) {
    // Hono's JSON validator raises this for a body that does not parse.
    if (error.status === 400) return new AppError("invalid_json", { detail: error.message, cause: error });
    if (error.status === 413) return new AppError("payload_too_large", { cause: error });
    // The OpenAPI router's media-type gate: a body route called with another Content-Type.
    if (error.status === 415) {
      return new AppError("unsupported_media_type", {
        detail: "This route takes an application/json body",
        cause: error,
      });
    }
  }
  return new AppError("internal_error", { detail: "Something went wrong on our side", cause: error });
}

function buildApp() {
  const app = createRouter();

  app.use("*", requestId(), requestLog(), securityHeaders());
  app.use("/v1/admin/*", adminAuth());
  // A fulfilment file is CSV and may be large; every other body is JSON of at most 64 KiB.
  app.use("/v1/admin/fulfillments/import", limitBody(FULFILLMENT_FILE_BYTES));
  const [jsonLimit, jsonOnly] = [limitBody(), requireJsonBody()];
  app.use(
    "/v1/*",
    createMiddleware(async function jsonBodies(c, next) {
      if (c.req.path === "/v1/admin/fulfillments/import") return next();
      return jsonLimit(c, async () => {
        await jsonOnly(c, next);
      });
    }),
  );

  app.route("/v1", catalogRoutes);
  app.route("/v1", inventoryRoutes);
  app.route("/v1", checkoutRoutes);
  app.route("/v1", pricingRoutes);
  app.route("/v1", quoteRoutes);
  app.route("/v1", orderRoutes);
  app.route("/v1", webhookRoutes);
  app.route("/v1", simulatorRoutes);
  app.route("/v1", dropRoutes);
  app.route("/v1", drawRoutes);
  app.route("/v1/admin", adminProductRoutes);
  app.route("/v1/admin", adminDrawRoutes);
  app.route("/v1/admin", adminInventoryRoutes);
  app.route("/v1/admin", adminPricingRoutes);
  app.route("/v1/admin", adminDiscountRoutes);
  app.route("/v1/admin", adminOrderRoutes);
  app.route("/v1/admin", adminOrderActionRoutes);
  app.route("/v1/admin", adminDashboardRoutes);
  app.route("/v1/admin", webhookAdminRoutes);
  app.route("/v1/admin", faultRoutes);
  app.route("/", opsRoutes);
  app.route("/", storefrontRoutes);
  app.route("/", emailPreviewRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", {
    type: "http",
    scheme: "bearer",
    description: "ADMIN_TOKEN (local default: dev-admin-token)",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "dropTicket", {
    type: "http",
    scheme: "bearer",
    description: "The ticket from POST /v1/drops/{product}/tickets",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "drawEntry", {
    type: "http",
    scheme: "bearer",
    description: "The entryToken returned on entering a draw",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "orderToken", {
    type: "http",
    scheme: "bearer",
    description: "The orderToken returned by checkout",
  });
  // What the shop's own endpoints receive: OpenAPI 3.1's `webhooks`, beside the paths it calls.
  app.openAPIRegistry.registerWebhook(orderEventWebhook);
  const document = (url: string) => finishDocument(app.getOpenAPI31Document(OPENAPI), new URL(url).origin);
  app.get("/openapi.json", (c) => c.json(document(c.req.url)));
  app.get("/docs", (c) =>
    c.html(renderDocs(OPENAPI.info.title), 200, {
      "Content-Security-Policy": DOCS_POLICY,
      "X-Frame-Options": "DENY",
      "Referrer-Policy": "strict-origin-when-cross-origin",
    }),
  );

  const allowedOn = methodsByPath(app.routes);
  app.notFound((c) => {
    const requestId = c.get("requestId") ?? ulid();
    const allow = allowedOn(c.req.path);
    if (allow.length > 0) {
      const error = new AppError("method_not_allowed", {
        detail: `${c.req.path} answers ${allow.join(", ")}, not ${c.req.method}`,
        headers: { Allow: allow.join(", ") },
      });
      return problemResponse(error, requestId);
    }
    if (!c.req.path.startsWith("/v1/") && (c.req.header("Accept") ?? "").includes("text/html")) {
      return c.html(notFoundPage(), 404, { "Cache-Control": "no-store" });
    }
    const error = new AppError("not_found", { detail: `No route for ${c.req.method} ${c.req.path}` });
    return problemResponse(error, requestId);
  });

  app.onError((thrown, c) => {
    const error = toAppError(thrown);
    if (error.status >= 500) {
      logEvent("error", "request failed", {
        code: error.code,
        requestId: c.get("requestId"),
        error: String(error.cause ?? error),
        stack: error.cause instanceof Error ? error.cause.stack : undefined,
      });
    }
    return problemResponse(error, c.get("requestId") ?? ulid());
  });

  return app;
}

export const app = buildApp();
