ALTER TABLE `discounts` ADD `cap_pending` text;--> statement-breakpoint
CREATE INDEX `discounts_cap_pending` ON `discounts` (`cap_pending`) WHERE "discounts"."cap_pending" IS NOT NULL;