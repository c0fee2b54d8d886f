CREATE TABLE "creator_config_versions" (
	"creator_id" uuid PRIMARY KEY NOT NULL,
	"version" bigint DEFAULT 0 NOT NULL
);
