import { z } from "@hono/zod-openapi";
import { Sku } from "../../catalog/catalog.schemas";
import { Money } from "../../shared/money";
import { singleLine, visibleAscii } from "../../shared/text";
import { Address, Totals } from "../orders.schemas";

const MAX_UNITS_PER_SKU = 1000;

const Line = z
  .object({
    sku: Sku,
    quantity: z.number().int().min(1).max(MAX_UNITS_PER_SKU),
  })
  .strict();

/** The buyer's choice of shipping method, as checkout and a draw's entry take it. */
export const ShippingChoice = z
  .object({
    method: z.string().min(1).max(63).openapi({
      description: "A method GET /v1/shipping-methods offers for the address",
      example: "standard",
    }),
  })
  .strict();

export const CheckoutRequest = z
  .object({
    items: z
      .array(Line)
      .min(1)
      .max(50)
      .superRefine((lines, ctx) => {
        const totals = new Map<string, number>();
        lines.forEach((line, index) => {
          const total = (totals.get(line.sku) ?? 0) + line.quantity;
          totals.set(line.sku, total);
          if (total > MAX_UNITS_PER_SKU) {
            ctx.addIssue({
              code: "custom",
              path: [index, "quantity"],
              message: `At most ${MAX_UNITS_PER_SKU} units of one SKU per order`,
            });
          }
        });
      }),
    customer: z
      .object({
        email: z.email().max(254),
        name: singleLine(200).optional(),
      })
      .strict(),
    shippingAddress: Address.optional(),
    shipping: ShippingChoice.optional().openapi({
      description: "Required for a cart that ships once the shop has shipping zones",
    }),
    discountCode: singleLine(64)
      .optional()
      .openapi({ description: "A discount code (case does not matter)", example: "SPRING15" }),
    payment: z
      .object({
        token: visibleAscii(255).openapi({
          description:
            "Gateway payment token; with the simulator: tok_ok, tok_declined, tok_flaky, tok_timeout_after_charge, tok_down, tok_3ds, tok_3ds_fail, tok_processing, each optionally naming its card as tok_ok.card_<id> (the card's fingerprint counts for limits per customer); with Stripe: a ConfirmationToken or PaymentMethod id",
          example: "tok_ok",
        }),
      })
      .strict(),
    admission: z
      .object({
        pass: visibleAscii(2000).openapi({ description: "The pass from GET /v1/drops/{product}/status" }),
      })
      .strict()
      .optional()
      .openapi({ description: "Required for a drop sold through a waiting room" }),
  })
  .strict()
  .openapi("CheckoutRequest");

export const CheckoutAccepted = z
  .object({
    orderId: z.string(),
    orderToken: z.string().openapi({ description: "Bearer capability for GET /v1/orders/:id; shown once" }),
    status: z.literal("pending_payment"),
    total: Money,
    totals: Totals,
    items: z.array(
      z.object({ sku: z.string(), quantity: z.number().int(), unitPrice: Money, title: z.string() }),
    ),
    holdExpiresAt: z.iso.datetime(),
  })
  .openapi("CheckoutAccepted");

export type CheckoutRequest = z.infer<typeof CheckoutRequest>;
export type CheckoutAccepted = z.infer<typeof CheckoutAccepted>;
