ALTER TABLE `orders` ADD `refunded_amount` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `orders` ADD `dispute` text;--> statement-breakpoint
CREATE INDEX `orders_payment_status` ON `orders` (`payment_status`);--> statement-breakpoint
CREATE INDEX `orders_disputed` ON `orders` (`id`) WHERE "orders"."dispute" IS NOT NULL;