CREATE TABLE `idempotency_keys` (
	`key_hash` text PRIMARY KEY NOT NULL,
	`fingerprint` text NOT NULL,
	`state` text NOT NULL,
	`order_id` text NOT NULL,
	`status_code` integer,
	`response` text,
	`locked_until` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `idempotency_keys_expires_at` ON `idempotency_keys` (`expires_at`);--> statement-breakpoint
CREATE TABLE `order_items` (
	`order_id` text NOT NULL,
	`sku` text NOT NULL,
	`product_id` text NOT NULL,
	`title` text NOT NULL,
	`quantity` integer NOT NULL,
	`unit_amount` integer NOT NULL,
	`currency` text NOT NULL,
	PRIMARY KEY(`order_id`, `sku`),
	FOREIGN KEY (`order_id`) REFERENCES `orders`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `orders` (
	`id` text PRIMARY KEY NOT NULL,
	`status` text DEFAULT 'pending_payment' NOT NULL,
	`token_hash` text NOT NULL,
	`email` text NOT NULL,
	`name` text,
	`shipping_address` text,
	`currency` text NOT NULL,
	`total_amount` integer NOT NULL,
	`payment_token` text NOT NULL,
	`payment_status` text DEFAULT 'pending' NOT NULL,
	`payment_attempts` integer DEFAULT 0 NOT NULL,
	`charge_id` text,
	`holds` text NOT NULL,
	`hold_expires_at` text NOT NULL,
	`stock_committed` integer DEFAULT false NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `orders_status_id` ON `orders` (`status`,`id`);--> statement-breakpoint
CREATE TABLE `payment_outbox` (
	`order_id` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL,
	`sent_at` integer,
	`send_attempts` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`order_id`) REFERENCES `orders`(`id`) ON UPDATE no action ON DELETE cascade
);
