--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Campaign leases ({{dialect}}): exactly one replica drives each campaign. Kept beside the
-- outbox in the dialer's database so an outbox write checks the fencing token in its own
-- transaction (docs/architecture.md, "Campaign ownership").

-- The replica driving the campaign ('' when none), the gRPC address it advertises, the
-- fencing token (bumped by every acquisition, never lowered) and when the lease lapses
-- unless renewed ({{i64}} microseconds since the Unix epoch, the holder's clock).
ALTER TABLE dialer_campaigns ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE dialer_campaigns ADD COLUMN lease_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE dialer_campaigns ADD COLUMN lease_token {{i64}} NOT NULL DEFAULT 0;
ALTER TABLE dialer_campaigns ADD COLUMN lease_expires_at {{i64}} NOT NULL DEFAULT 0;
