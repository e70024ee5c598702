CREATE TABLE `pricing_settings` (
	`id` integer PRIMARY KEY NOT NULL,
	`body` text NOT NULL,
	`version` integer NOT NULL,
	`updated_at` text NOT NULL
);
