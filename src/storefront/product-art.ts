/**
 * A product's picture when its shop gave none: an SVG drawn from its slug alone, so each product has
 * its own (two products of a category no longer share one), the same one on every request and at
 * every location, with no network and no storage. The slug is a lowercase word list (the catalog's
 * rule), and only its initials and a hash of it reach the drawing.
 */

/** FNV-1a: a small, stable hash; the picture needs spread, not secrecy. */
function hash(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export function isArtSlug(slug: string): boolean {
  return slug.length <= 100 && SLUG.test(slug);
}

/** A deterministic 400x400 SVG for `slug` (checked by `isArtSlug`). */
export function productArt(slug: string): string {
  const h = hash(slug);
  const pick = (shift: number, range: number) => (h >>> shift) % range;
  const hue = pick(0, 360);
  const hue2 = (hue + 40 + pick(9, 140)) % 360;
  const words = slug.split("-").filter((word) => /^[a-z]/.test(word));
  const initials = (words.length > 0 ? words : [slug])
    .slice(-2)
    .map((word) => word[0]?.toUpperCase() ?? "")
    .join("");
  const shapes: string[] = [];
  const pattern = pick(3, 3);
  for (let i = 0; i < 7; i++) {
    const r = hash(`${slug}#${i}`);
    const x = r % 400;
    const y = (r >>> 9) % 400;
    const size = 30 + ((r >>> 18) % 90);
    const opacity = (0.12 + ((r >>> 24) % 20) / 100).toFixed(2);
    if (pattern === 0)
      shapes.push(`<circle cx="${x}" cy="${y}" r="${size}" fill="#fff" fill-opacity="${opacity}"/>`);
    else if (pattern === 1)
      shapes.push(
        `<rect x="${x - size / 2}" y="${y - size / 2}" width="${size}" height="${size}" rx="12" transform="rotate(${(r >>> 4) % 90} ${x} ${y})" fill="#fff" fill-opacity="${opacity}"/>`,
      );
    else
      shapes.push(
        `<path d="M${x} ${y - size}L${x + size} ${y + size}L${x - size} ${y + size}Z" fill="#fff" fill-opacity="${opacity}"/>`,
      );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400" width="400" height="400" role="img">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl(${hue} 65% 58%)"/><stop offset="1" stop-color="hsl(${hue2} 60% 38%)"/></linearGradient></defs>
<rect width="400" height="400" fill="url(#g)"/>${shapes.join("")}
<text x="200" y="200" dy=".35em" text-anchor="middle" font-family="system-ui,sans-serif" font-size="120" font-weight="700" fill="#fff" fill-opacity=".92">${initials}</text>
</svg>`;
}
