import { z } from "@hono/zod-openapi";
import { Money } from "../shared/money";
import { multiLine, singleLine } from "../shared/text";

const slugPattern = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export const Sku = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "Letters, digits, '.', '_' and '-' only")
  .openapi({ example: "TEE-BLK-M" });

const Slug = z.string().min(1).max(100).regex(slugPattern, "Lowercase words joined by '-'");

/** A limited release's rules, on a product (for all its variants together) or on one variant. */
const dropRules = {
  saleStartsAt: z.iso.datetime().optional().openapi({
    description: "Before this, checkout refuses the item (409 sale_not_started); a variant's own time wins",
    example: "2026-11-27T17:00:00.000Z",
  }),
  maxPerOrder: z.number().int().min(1).max(1_000_000).optional().openapi({
    description:
      "At most this many units in one order: of this SKU on a variant, of all the product's SKUs together on a product (409 purchase_limit_exceeded)",
  }),
  maxPerCustomer: z.number().int().min(1).max(1_000_000).optional().openapi({
    description:
      "At most this many units per customer (the normalised email), held, being paid or bought, over all their orders: of this SKU on a variant, of the product's SKUs together on a product; given back when an order fails or is cancelled (409 purchase_limit_exceeded)",
  }),
};

const Variant = z
  .object({
    sku: Sku,
    title: singleLine(200),
    price: Money,
    attributes: z
      .record(singleLine(50), singleLine(200, 0))
      .refine((value) => Object.keys(value).length <= 20, "At most 20 attributes")
      .default({}),
    ...dropRules,
  })
  .strict()
  .openapi("Variant");

const productFields = {
  slug: Slug.openapi({ example: "classic-tee" }),
  title: singleLine(200).openapi({ example: "Classic Tee" }),
  description: multiLine(10_000).default(""),
  category: Slug.openapi({ example: "apparel" }),
  images: z
    .array(z.url({ protocol: /^https?$/ }).max(2048))
    .max(20)
    .default([]),
  variants: z
    .array(Variant)
    .min(1)
    .max(50)
    .superRefine((variants, ctx) => {
      const seen = new Set<string>();
      variants.forEach((variant, index) => {
        if (seen.has(variant.sku)) {
          ctx.addIssue({ code: "custom", path: [index, "sku"], message: "Duplicate SKU in this product" });
        }
        seen.add(variant.sku);
      });
    }),
  ...dropRules,
  requiresShipping: z.boolean().default(true).openapi({
    description: "false for what does not ship (a ticket, a download): checkout needs no address for it",
  }),
  waitingRoom: z
    .object({
      admitPerMinute: z.number().int().min(1).max(1_000_000).openapi({
        description: "Buyers let through to checkout per minute from the shuffle, in the line's order",
      }),
      prequeueSeconds: z.number().int().min(0).max(3600).optional().openapi({
        description:
          "Buyers who join up to this long after saleStartsAt are still shuffled with the early ones; the shuffle, and admission, happen then (default 0: at the start)",
      }),
    })
    .strict()
    .optional()
    .openapi({
      description:
        "A fair waiting room for the drop (needs the product's saleStartsAt): buyers join before the start, are shuffled at it, and check out with an admission pass",
    }),
};

/** A draw stays open 6 days at most: a card authorization (about 7 days) must outlive it. */
const MAX_DRAW_WINDOW_MS = 6 * 86_400_000;

const drawFields = {
  opensAt: z.iso.datetime().openapi({ description: "Entries are taken from this time" }),
  closesAt: z.iso.datetime().openapi({
    description:
      "Entries close, and the draw runs, at this time; at most 6 days after opensAt (a card authorization holds about 7 days)",
  }),
  units: z
    .record(Sku, z.number().int().min(1).max(100_000))
    .refine((units) => Object.keys(units).length >= 1 && Object.keys(units).length <= 50, "1 to 50 SKUs")
    .openapi({ description: "Units drawn per SKU, held for the draw from its creation" }),
  beacon: z
    .object({
      chain: z.string().regex(/^[0-9a-f]{64}$/),
      round: z.number().int().min(1),
    })
    .strict()
    .optional()
    .openapi({
      description:
        "A drand round fixed before entries open, mixed into the seed so that nobody (the shop included) knows the outcome before it",
    }),
};

/** A draw as the shop sets it up (see docs/draws.md). */
export const DrawSettings = z
  .object(drawFields)
  .strict()
  .refine((draw) => Date.parse(draw.opensAt) < Date.parse(draw.closesAt), {
    message: "closesAt must come after opensAt",
    path: ["closesAt"],
  })
  .refine((draw) => Date.parse(draw.closesAt) - Date.parse(draw.opensAt) <= MAX_DRAW_WINDOW_MS, {
    message: "A draw stays open 6 days at most: a card authorization must outlive it",
    path: ["closesAt"],
  })
  .openapi("DrawSettings");
export type DrawSettings = z.infer<typeof DrawSettings>;

/** A product's draw as the catalog shows it: its settings and the commitment to its secret seed. */
const PublicDraw = z
  .object({
    ...drawFields,
    commitment: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .openapi({
        description:
          "SHA-256 of the draw's secret seed, published before entries open; the seed is revealed at the close",
      }),
    cancelledAt: z.iso.datetime().optional().openapi({
      description:
        "Set once the draw was cancelled (by the shop, or a beacon round that never came): it takes no entry, nobody is charged, every authorization is cancelled",
    }),
  })
  .openapi("PublicDraw");

/** What an admin sends to create or replace a product: everything but `id` and `updatedAt`. */
export const ProductInput = z
  .object(productFields)
  .strict()
  .refine((product) => !product.waitingRoom || product.saleStartsAt, {
    message: "A waiting room needs the product's saleStartsAt",
    path: ["waitingRoom"],
  })
  .openapi("ProductInput");

export const Product = z
  .object({
    id: z.string().openapi({ example: "01JD3ZQ5K8W4Y3V2X1T0S9R8Q7" }),
    ...productFields,
    variants: z.array(Variant),
    draw: PublicDraw.optional().openapi({
      description:
        "Set when the product is sold by draw (POST /v1/admin/products/{id}/draw), not by first come",
    }),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Product");

export const ProductPage = z
  .object({
    items: z.array(Product),
    nextCursor: z.string().nullable(),
  })
  .openapi("ProductPage");

export const ListQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(200).optional(),
    category: Slug.optional(),
  })
  .openapi("ProductListQuery");

export const ProductParams = z.object({
  idOrSlug: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "idOrSlug", in: "path" }, example: "classic-tee" }),
});

export const ProductIdParams = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

export type ProductInput = z.infer<typeof ProductInput>;
export type Product = z.infer<typeof Product>;
export type ProductPage = z.infer<typeof ProductPage>;
export type ListQuery = z.infer<typeof ListQuery>;
