import { describe, expect, it } from "vitest";
import { clientKey } from "../src/http/client-key";
import { call, checkoutBody, JSON_HEADERS, unique } from "./helpers";

const keyOf = (address: string) => clientKey(new Headers({ "CF-Connecting-IP": address }));

/** A limiter that records whom it was asked about and refuses after `limit` asks per key. */
function recordingLimiter(limit: number) {
  const asked = new Map<string, number>();
  const binding = {
    limit: async ({ key }: { key: string }) => {
      asked.set(key, (asked.get(key) ?? 0) + 1);
      return { success: (asked.get(key) ?? 0) <= limit };
    },
  } as unknown as RateLimit;
  return { binding, asked };
}

describe("the client a limit counts", () => {
  it("is an IPv4 address itself, and an IPv6 address its /64 however it is written", () => {
    expect(keyOf("192.0.2.10")).toBe("192.0.2.10");
    expect(keyOf("192.0.2.11")).not.toBe(keyOf("192.0.2.10"));
    const one64 = [
      "2001:db8:aa:bb::1",
      "2001:0db8:00aa:00bb:ffff:ffff:ffff:ffff",
      "2001:DB8:AA:BB:1:2:3:4",
      "2001:db8:aa:bb:0:0:192.0.2.1",
      "2001:db8:aa:bb::",
      "2001:db8:aa:bb::7%eth0",
    ];
    expect(new Set(one64.map(keyOf))).toEqual(new Set(["2001:db8:aa:bb::/64"]));
    expect(keyOf("2001:db8:aa:bc::1")).toBe("2001:db8:aa:bc::/64");
    expect(keyOf("::1")).toBe("0:0:0:0::/64");
    expect(keyOf("::ffff:192.0.2.10")).toBe("192.0.2.10");
    expect(clientKey(new Headers())).toBe("anonymous");
  });

  it("limits ten addresses of one IPv6 /64 as one client", async () => {
    const limiter = recordingLimiter(3);
    const statuses: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const response = await call(
        "/v1/checkout",
        {
          method: "POST",
          headers: {
            ...JSON_HEADERS,
            "Idempotency-Key": unique("v6"),
            "CF-Connecting-IP": `2001:db8:5:6:${i.toString(16)}::${i}`,
          },
          body: JSON.stringify(checkoutBody([{ sku: unique("ANY").toUpperCase(), quantity: 1 }])),
        },
        { CHECKOUT_LIMITER: limiter.binding },
      );
      statuses.push(response.status);
    }
    expect([...limiter.asked.keys()]).toEqual(["2001:db8:5:6::/64"]);
    expect(statuses.filter((status) => status === 429)).toHaveLength(7);
  });
});
