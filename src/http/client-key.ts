/**
 * Who a client is, for limits per client: its connecting address behind Cloudflare, which it cannot
 * forge. An IPv4 address stands for itself; an IPv6 address for its /64, the block one subscriber
 * is commonly given whole, so picking another of its 2^64 addresses does not make another client.
 */
export function clientKey(headers: Headers): string {
  const address = headers.get("CF-Connecting-IP")?.trim();
  if (!address) return "anonymous";
  if (!address.includes(":")) return address;
  return ipv6Prefix(address) ?? address.slice(0, 64);
}

const HEXTET = /^[0-9a-f]{1,4}$/;

/** `2001:db8:1:2::/64` for any address in that /64; an IPv4-mapped address is its IPv4 address. */
function ipv6Prefix(text: string): string | null {
  const address = text.toLowerCase().split("%")[0] ?? "";
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped?.[1]) return mapped[1];
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const split = (part: string | undefined) => (part ? part.split(":") : []);
  const head = split(halves[0]);
  const tail = split(halves[1]);
  // A trailing dotted quad is the last two hextets; it is past the /64 either way.
  if (tail.at(-1)?.includes(".")) tail.splice(-1, 1, "0", "0");
  else if (head.at(-1)?.includes(".")) head.splice(-1, 1, "0", "0");
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const hextets = [...head, ...Array<string>(missing).fill("0"), ...tail];
  if (!hextets.every((h) => HEXTET.test(h))) return null;
  const prefix = hextets.slice(0, 4).map((h) => Number.parseInt(h, 16).toString(16));
  return `${prefix.join(":")}::/64`;
}
