DROP TABLE `idempotency_keys`;--> statement-breakpoint
DROP TABLE `payment_outbox`;--> statement-breakpoint
ALTER TABLE `orders` ADD `failure_reason` text;--> statement-breakpoint
ALTER TABLE `orders` ADD `version` integer DEFAULT 0 NOT NULL;