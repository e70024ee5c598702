ALTER TABLE `products` ADD `max_per_customer` integer;--> statement-breakpoint
ALTER TABLE `variants` ADD `max_per_customer` integer;