--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Campaign pacing state ({{dialect}}): what the lease holder's pacer has learned, so a
-- replica that takes the campaign over (or the same one restarted) resumes it instead of
-- starting cold (docs/architecture.md, "Campaign ownership").

-- The pacer's snapshot (pacing::PacingState as versioned JSON; '' when none), when it was
-- written ({{i64}} microseconds since the Unix epoch, the writer's wall clock) and the lease
-- token it was written under: a write is accepted only under the campaign's current token,
-- so a stale holder cannot overwrite a newer holder's state.
ALTER TABLE dialer_campaigns ADD COLUMN pacing_state TEXT NOT NULL DEFAULT '';
ALTER TABLE dialer_campaigns ADD COLUMN pacing_saved_at {{i64}} NOT NULL DEFAULT 0;
ALTER TABLE dialer_campaigns ADD COLUMN pacing_token {{i64}} NOT NULL DEFAULT 0;
