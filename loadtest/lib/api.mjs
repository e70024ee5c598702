// A small client of Stampede's own admin API, used by the load tests' setup and audit.
import { describeError, isTransientNetworkError } from "./failure.mjs";

/** Waits before each retry of a read whose connection was refused or reset (a restart, a busy box). */
const READ_RETRIES_MS = [250, 1000, 2000];

export function adminClient(baseUrl, adminToken) {
  async function send(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetch(baseUrl + path, {
          method,
          headers: {
            Authorization: `Bearer ${adminToken}`,
            ...(body ? { "Content-Type": "application/json" } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
        });
      } catch (error) {
        const wait = READ_RETRIES_MS[attempt];
        if (method === "GET" && wait !== undefined && isTransientNetworkError(error)) {
          await new Promise((resolve) => setTimeout(resolve, wait));
          continue;
        }
        const tries = attempt > 0 ? ` (${attempt + 1} attempts)` : "";
        throw new Error(`${method} ${path} failed${tries}: ${describeError(error, { codes: false })}`, {
          cause: error,
        });
      }
    }
  }
  async function call(method, path, body) {
    const response = await send(method, path, body);
    let text;
    try {
      text = await response.text();
    } catch (error) {
      throw new Error(
        `${method} ${path}: the answer was cut off: ${describeError(error, { codes: false })}`,
        { cause: error },
      );
    }
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text);
  }
  return {
    baseUrl,
    call,
    inventory: (sku) => call("GET", `/v1/admin/inventory/${encodeURIComponent(sku)}`),
    ledger: (sku) => call("GET", `/v1/admin/inventory/${encodeURIComponent(sku)}/ledger?limit=1000`),
    reconcile: () => call("POST", "/v1/admin/reconcile"),
    charges: () => call("GET", "/v1/admin/simulator/charges").then((page) => page.charges),
    async orders(status) {
      const all = [];
      let cursor = null;
      do {
        const query = new URLSearchParams({
          limit: "100",
          ...(status ? { status } : {}),
          ...(cursor ? { cursor } : {}),
        });
        const page = await call("GET", `/v1/admin/orders?${query}`);
        all.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      return all;
    },
  };
}
