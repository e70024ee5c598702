// A small client of Stampede's own admin API, used by the load tests' setup and audit.
export function adminClient(baseUrl, adminToken) {
  async function call(method, path, body) {
    const response = await fetch(baseUrl + path, {
      method,
      headers: {
        Authorization: `Bearer ${adminToken}`,
        ...(body ? { "Content-Type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!response.ok)
      throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`);
    return response.json();
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
