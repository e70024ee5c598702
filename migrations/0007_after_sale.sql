ALTER TABLE `orders` ADD `fulfillment_status` text DEFAULT 'unfulfilled' NOT NULL;--> statement-breakpoint
ALTER TABLE `orders` ADD `view` text;--> statement-breakpoint
CREATE INDEX `orders_fulfillment_created` ON `orders` (`status`,`fulfillment_status`,`created_at`);--> statement-breakpoint
CREATE INDEX `orders_email_id` ON `orders` (`email`,`id`);--> statement-breakpoint
CREATE INDEX `orders_created` ON `orders` (`created_at`);--> statement-breakpoint
ALTER TABLE `products` ADD `requires_shipping` integer DEFAULT true NOT NULL;--> statement-breakpoint
CREATE INDEX `order_items_sku_order` ON `order_items` (`sku`,`order_id`);