import { describe, expect, it } from "vitest";
import { admin } from "./helpers";

const create = (url: string, bindings: Partial<Env> = {}) =>
  admin("POST", "/v1/admin/webhooks/endpoints", { url, events: ["order.paid"] }, bindings);

describe("webhook endpoint URLs", () => {
  it.each([
    "https://169.254.169.254/latest/meta-data",
    "https://10.0.0.5/hooks",
    "https://172.20.1.1/hooks",
    "https://192.168.1.10/hooks",
    "https://100.64.0.1/hooks",
    "https://127.0.0.2/hooks",
    "https://0.0.0.0/hooks",
    "https://[fd00::1]/hooks",
    "https://[fe80::1]/hooks",
    "https://[::ffff:10.0.0.1]/hooks",
    "https://printer.local/hooks",
    "https://vault.internal/hooks",
    "https://metadata/hooks",
    "http://shop.example/hooks",
  ])("refuses %s in every environment", async (url) => {
    for (const local of ["true", "false"]) {
      const response = await create(url, { LOCAL_WEBHOOK_RECEIVERS: local });
      expect(response.status, `${url} local=${local}`).toBe(400);
      const problem = await response.json<{ code: string; errors: { path: string }[] }>();
      expect(problem.code).toBe("validation_failed");
      expect(problem.errors).toContainEqual(expect.objectContaining({ path: "url" }));
    }
  });

  it("takes a receiver on this machine only in local development", async () => {
    for (const url of [
      "http://localhost:3000/hooks",
      "http://127.0.0.1:3000/hooks",
      "http://[::1]:3000/hooks",
    ]) {
      expect((await create(url, { LOCAL_WEBHOOK_RECEIVERS: "false" })).status, url).toBe(400);
      expect((await create(url, { LOCAL_WEBHOOK_RECEIVERS: "true" })).status, url).toBe(201);
    }
    const endpoint = await (await create("https://hooks.shop.example/in")).json<{ id: string }>();
    const patched = await admin(
      "PATCH",
      `/v1/admin/webhooks/endpoints/${endpoint.id}`,
      { url: "http://localhost:3000/hooks" },
      { LOCAL_WEBHOOK_RECEIVERS: "false" },
    );
    expect(patched.status).toBe(400);
  });

  it("takes https to a public host", async () => {
    expect((await create("https://hooks.shop.example/in", { LOCAL_WEBHOOK_RECEIVERS: "false" })).status).toBe(
      201,
    );
    expect((await create("https://93.184.215.14/in", { LOCAL_WEBHOOK_RECEIVERS: "false" })).status).toBe(201);
  });
});
