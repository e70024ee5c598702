import { z } from "@hono/zod-openapi";
import { Money } from "../shared/money";
import { MAX_BATCH } from "./code-batches";
import type { DiscountMismatch, DiscountTerms } from "./pricing";

/**
 * Discount codes as the shop defines them, and as checkout applies them. A code is case-insensitive
 * (kept in capitals); what it takes off, and what it applies to, never change once it exists (a
 * different offer is a different code), so every order that used it was priced by the same terms.
 * Its dates, caps, minimum and status can change; its uses are counted where they are held (see
 * inventory/allowances.ts), never here.
 */

export const CodeText = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/, "3 to 64 letters, digits, '_' and '-'")
  .transform((code) => code.toUpperCase())
  .openapi({ example: "SPRING15" });

const Id = z.string().min(1).max(64);

/**
 * A code with this many uses or more is hot enough to split its cap over buckets (see
 * inventory/code-uses.ts), unless made with `buckets`; a code's buckets never change once made.
 */
const HOT_CODE_USES = 64;
const HOT_CODE_BUCKETS = 4;
const MAX_CODE_BUCKETS = 16;

/** The buckets a code made from `input` splits its total cap over; none without one. */
export const capBuckets = (input: { maxUses?: number; buckets?: number }) =>
  input.maxUses === undefined
    ? undefined
    : (input.buckets ?? (input.maxUses >= HOT_CODE_USES ? HOT_CODE_BUCKETS : 1));
const Cap = z.number().int().min(1).max(1_000_000);

const Mutable = {
  maxUses: Cap.optional().openapi({ description: "Uses over every customer (the first N orders)" }),
  maxUsesPerCustomer: Cap.optional().openapi({
    description: "Uses per customer: per normalized email at checkout, and per card at payment",
  }),
  startsAt: z.iso.datetime().optional(),
  endsAt: z.iso.datetime().optional(),
  minSubtotal: Money.optional().openapi({ description: "Of the lines the code applies to" }),
  returnUseOnRefund: z.boolean().optional().openapi({
    description:
      "A fully refunded order (or one the shop cancels) gives its use back: to maxUses, and to the customer's and card's allowance. Default false; an order keeps the rule its checkout saw",
  }),
};

export const DiscountInput = z
  .object({
    code: CodeText,
    kind: z.enum(["percentage", "fixed", "free_shipping"]),
    value: z
      .union([z.number().gt(0).max(100), Money])
      .optional()
      .openapi({ description: "percentage: a number (15 = 15 %, two decimals at most); fixed: Money" }),
    per: z
      .enum(["order", "unit"])
      .optional()
      .openapi({ description: "fixed: taken off once per order (default) or per unit it applies to" }),
    appliesTo: z
      .object({
        products: z.array(Id).max(500).optional(),
        categories: z.array(Id).max(100).optional(),
      })
      .strict()
      .optional()
      .openapi({ description: "Absent: the whole cart" }),
    ...Mutable,
    buckets: z
      .number()
      .int()
      .min(1)
      .max(MAX_CODE_BUCKETS)
      .optional()
      .openapi({
        description: `Objects the total cap is split over, fixed once made (default: ${HOT_CODE_BUCKETS} from maxUses ${HOT_CODE_USES}, else 1)`,
      }),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.buckets !== undefined && (input.maxUses === undefined || input.buckets > input.maxUses)) {
      ctx.addIssue({
        code: "custom",
        path: ["buckets"],
        message: "Needs maxUses, at least one use a bucket",
      });
    }
    const value = input.value;
    if (input.kind === "percentage") {
      if (typeof value !== "number" || Math.abs(value * 100 - Math.round(value * 100)) > 1e-6) {
        ctx.addIssue({
          code: "custom",
          path: ["value"],
          message: "A percentage (1 to 100, two decimals at most)",
        });
      }
    } else if (input.kind === "fixed") {
      if (typeof value !== "object" || value.amount <= 0) {
        ctx.addIssue({ code: "custom", path: ["value"], message: "An amount of Money above 0" });
      }
    } else if (value !== undefined) {
      ctx.addIssue({ code: "custom", path: ["value"], message: "A free-shipping code takes no value" });
    }
    if (input.per !== undefined && input.kind !== "fixed") {
      ctx.addIssue({
        code: "custom",
        path: ["per"],
        message: "Only a fixed amount is taken per order or per unit",
      });
    }
    const fixed = typeof value === "object" ? value : null;
    if (fixed && input.minSubtotal && fixed.currency !== input.minSubtotal.currency) {
      ctx.addIssue({ code: "custom", path: ["minSubtotal"], message: "In the currency of the code's value" });
    }
    if (input.startsAt && input.endsAt && Date.parse(input.startsAt) >= Date.parse(input.endsAt)) {
      ctx.addIssue({ code: "custom", path: ["endsAt"], message: "Must come after startsAt" });
    }
  })
  .openapi("DiscountInput");
export type DiscountInput = z.output<typeof DiscountInput>;

/** What may change about a code in use: its window, caps, minimum, refunds rule and status. */
export const DiscountPatch = z
  .object({
    ...Mutable,
    startsAt: Mutable.startsAt.nullable(),
    endsAt: Mutable.endsAt.nullable(),
    maxUses: Mutable.maxUses.nullable(),
    maxUsesPerCustomer: Mutable.maxUsesPerCustomer.nullable(),
    minSubtotal: Mutable.minSubtotal.nullable(),
    status: z.enum(["active", "disabled"]).optional(),
  })
  .partial()
  .strict()
  .openapi("DiscountPatch");
export type DiscountPatch = z.output<typeof DiscountPatch>;

/**
 * A batch of single-use codes, as the shop asks for it: its prefix, how many codes, and the terms
 * every code of it has (see code-batches.ts). `maxUsesPerCustomer` counts over the whole batch.
 */
export const BatchInput = z
  .object({
    prefix: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9]{3,16}$/, "3 to 16 letters and digits")
      .transform((prefix) => prefix.toUpperCase())
      .openapi({ example: "INFLUENCER" }),
    count: z.number().int().min(1).max(MAX_BATCH),
    kind: z.enum(["percentage", "fixed", "free_shipping"]),
    value: z.union([z.number().gt(0).max(100), Money]).optional(),
    per: z.enum(["order", "unit"]).optional(),
    appliesTo: z
      .object({ products: z.array(Id).max(500).optional(), categories: z.array(Id).max(100).optional() })
      .strict()
      .optional(),
    maxUsesPerCustomer: Cap.optional().openapi({ description: "Codes of this batch one customer may use" }),
    startsAt: z.iso.datetime().optional(),
    endsAt: z.iso.datetime().optional(),
    minSubtotal: Money.optional(),
  })
  .strict()
  .openapi("DiscountBatchInput");
export type BatchInput = z.output<typeof BatchInput>;

/** A code as it is kept: its definition, its status, and when it was made and changed. */
export type DiscountDefinition = DiscountInput & {
  status: "active" | "disabled";
  createdAt: string;
  updatedAt: string;
  /** For a batch of single-use codes (kept under its prefix): how many, and its key (never shown). */
  batch?: { count: number; key: string };
  /** For a code of a batch: the batch its cap per customer counts over. */
  perCustomerKey?: string;
  /** When `maxUses` last changed (absent: never since made): a split cap's version. */
  maxUsesChangedAt?: string;
  /** D1's record only (never published): the version of a split cap's change not yet pushed through. */
  capPending?: string;
};

const Uses = z
  .object({
    held: z.number().int().openapi({ description: "By orders not paid yet (given back if they fail)" }),
    used: z.number().int().openapi({ description: "By paid orders" }),
    left: z.number().int().nullable().openapi({
      description:
        "Before maxUses; null without a cap, or while a change of the cap is not through (capPending)",
    }),
  })
  .openapi("DiscountUses");

export const Discount = z
  .object({
    code: z.string(),
    kind: z.enum(["percentage", "fixed", "free_shipping"]),
    value: z.union([z.number(), Money]).optional(),
    per: z.enum(["order", "unit"]).optional(),
    appliesTo: z
      .object({ products: z.array(z.string()).optional(), categories: z.array(z.string()).optional() })
      .optional(),
    maxUses: z.number().int().optional(),
    maxUsesPerCustomer: z.number().int().optional(),
    buckets: z.number().int().optional().openapi({ description: "Objects the total cap is split over" }),
    capPending: z.boolean().optional().openapi({
      description:
        "A change of the split cap is not through yet (the request that made it failed or stopped): checkouts with the code may be answered 503 until the scheduled job completes it, within minutes",
    }),
    startsAt: z.string().optional(),
    endsAt: z.string().optional(),
    minSubtotal: Money.optional(),
    returnUseOnRefund: z.boolean().optional(),
    status: z.enum(["active", "disabled"]),
    createdAt: z.string(),
    updatedAt: z.string(),
    batch: z
      .object({ count: z.number().int(), codes: z.string().openapi({ description: "CSV of every code" }) })
      .optional()
      .openapi({ description: "A batch of single-use codes, named by this prefix" }),
    uses: Uses.nullable().openapi({
      description:
        "null when its counters could not be read just now (in a list, or the answer to a change that was made): read the code again",
    }),
  })
  .openapi("Discount");
export type Discount = z.infer<typeof Discount>;

/** The terms the pricing maths applies for a code, in the cart's currency, or why it cannot apply. */
export function termsOf(
  definition: DiscountDefinition,
  currency: string,
): { terms: DiscountTerms } | { mismatch: DiscountMismatch | "disabled" | "currency" } {
  if (definition.status === "disabled") return { mismatch: "disabled" };
  const fixed = typeof definition.value === "object" ? definition.value : null;
  if (fixed && fixed.currency !== currency) return { mismatch: "currency" };
  if (definition.minSubtotal && definition.minSubtotal.currency !== currency) return { mismatch: "currency" };
  return {
    terms: {
      code: definition.code,
      kind: definition.kind,
      ...(typeof definition.value === "number" ? { percent: Math.round(definition.value * 100) } : {}),
      ...(fixed ? { amount: fixed.amount, per: definition.per ?? "order" } : {}),
      ...(definition.appliesTo ? { appliesTo: definition.appliesTo } : {}),
      ...(definition.minSubtotal ? { minSubtotal: definition.minSubtotal.amount } : {}),
      ...(definition.startsAt ? { startsAt: Date.parse(definition.startsAt) } : {}),
      ...(definition.endsAt ? { endsAt: Date.parse(definition.endsAt) } : {}),
    },
  };
}

const WHY: Record<
  | DiscountMismatch
  | "disabled"
  | "currency"
  | "unknown"
  | "nothing_to_take"
  | "order_free"
  | "below_charge_minimum",
  string
> = {
  nothing_to_take: "takes nothing off this cart",
  order_free: "would make this order free, and this shop takes no free orders",
  below_charge_minimum: "would bring this order below the smallest amount a card payment can be for",
  unknown: "is not a discount code of this shop",
  disabled: "is no longer valid",
  currency: "is for carts in another currency",
  not_started: "is not valid yet",
  expired: "has expired",
  below_minimum: "needs a larger subtotal of the items it applies to",
  no_matching_items: "does not apply to any item of this cart",
};

/** Why a code does not apply, as the buyer reads it. */
export const whyNot = (code: string, reason: keyof typeof WHY) => `The code ${code} ${WHY[reason]}`;
