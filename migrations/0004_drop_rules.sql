ALTER TABLE `products` ADD `sale_starts_at` text;--> statement-breakpoint
ALTER TABLE `products` ADD `max_per_order` integer;--> statement-breakpoint
ALTER TABLE `variants` ADD `sale_starts_at` text;--> statement-breakpoint
ALTER TABLE `variants` ADD `max_per_order` integer;