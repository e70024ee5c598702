import { AppError } from "../shared/errors";

/**
 * Where the shop may send its webhooks. The shop's worker makes the request, so an endpoint must
 * not point it at what sits beside it rather than at a receiver on the internet: no private,
 * loopback, link-local, CGNAT, unique-local or multicast address literals (a cloud metadata
 * service at 169.254.169.254, a 10.x admin panel), and no names that only resolve inside a
 * network (`.local`, `.internal`, `.localhost`, single labels). Receivers on the developer's own
 * machine (`localhost`, `127.0.0.1`, `[::1]`, plain http allowed) only when the shop runs for local
 * development (LOCAL_WEBHOOK_RECEIVERS).
 */
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);
const INNER_SUFFIXES = [".local", ".internal", ".localhost", ".lan", ".home.arpa", ".intranet", ".corp"];

/** [first address as a number, prefix length] for IPv4 blocks that are not the internet. */
const IPV4_BLOCKS: [number, number][] = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
].map(([address, bits]) => [ipv4Number(String(address)) ?? 0, Number(bits)]);

function ipv4Number(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function innerIpv4(address: number): boolean {
  return IPV4_BLOCKS.some(
    ([first, bits]) => Math.floor(address / 2 ** (32 - bits)) === Math.floor(first / 2 ** (32 - bits)),
  );
}

/** The URL parser gives IPv6 literals bracketed and compressed, IPv4-mapped ones in hex. */
function innerIpv6(literal: string): boolean {
  const address = literal.slice(1, -1).toLowerCase();
  if (address === "::" || address === "::1") return true;
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (mapped) {
    return innerIpv4(Number.parseInt(mapped[1] ?? "0", 16) * 65536 + Number.parseInt(mapped[2] ?? "0", 16));
  }
  const first = Number.parseInt(address.split(":")[0] || "0", 16);
  // fc00::/7 unique-local, fe80::/10 link-local, ff00::/8 multicast, 2001:db8::/32 documentation.
  return (
    (first & 0xfe00) === 0xfc00 ||
    (first & 0xffc0) === 0xfe80 ||
    (first & 0xff00) === 0xff00 ||
    address.startsWith("2001:db8:") ||
    address.startsWith("64:ff9b:")
  );
}

/** Why the shop will not send to `url`, or null when it may. */
export function receiverRefusal(url: URL, { local }: { local: boolean }): string | null {
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (LOOPBACK_NAMES.has(host)) {
    return local ? null : "Must be a receiver on the internet, not this machine (localhost)";
  }
  if (url.protocol !== "https:") return "Must be an https URL (http only for localhost in local development)";
  if (host.startsWith("[")) return innerIpv6(host) ? "Must not be a private or reserved IP address" : null;
  const v4 = ipv4Number(host);
  if (v4 !== null) return innerIpv4(v4) ? "Must not be a private or reserved IP address" : null;
  if (!host.includes(".") || INNER_SUFFIXES.some((suffix) => host.endsWith(suffix))) {
    return "Must be a public host name, not one of an internal network";
  }
  return null;
}

/** A receiver on this machine is refused unless the shop runs for local development. */
export function checkReceiverHere(env: Env, url: string | undefined) {
  if (url === undefined || !URL.canParse(url)) return;
  const message = receiverRefusal(new URL(url), { local: env.LOCAL_WEBHOOK_RECEIVERS === "true" });
  if (message) {
    throw new AppError("validation_failed", {
      detail: "The webhook endpoint's URL is not one the shop sends to",
      errors: [{ path: "url", message, in: "body" }],
    });
  }
}
