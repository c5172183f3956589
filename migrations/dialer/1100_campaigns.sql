--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Dialer campaigns ({{Dialect}}): what a restarted dialerd resumes. Versions 1100 and up are
-- the campaign registry's (1000 and up: the outbox's; small numbers: the ledger's), so the
-- dialer may share the ledger's database and its one `_sqlx_migrations` table. Instants are
-- {{i64}} microseconds since the Unix epoch (UTC), as in the ledger. Keep in step with
-- migrations/dialer/{{other}}/1100_campaigns.sql.

-- One row per campaign, stopped ones included (their ids stay taken).
CREATE TABLE dialer_campaigns (
    campaign_id TEXT PRIMARY KEY,
    -- The configuration in force: dialer::campaign::CampaignSpec as JSON.
    spec        TEXT NOT NULL,
    -- What to resume it as: ready (not started), running, paused, or stopped (final).
    state       TEXT NOT NULL CHECK (state IN ('ready', 'running', 'paused', 'stopped')),
    created_at  {{i64}} NOT NULL,
    updated_at  {{i64}} NOT NULL
);

-- Accounts added to each campaign, so a dialer on in-process queues can queue them again
-- after a restart (on Redis the queue itself survives).
CREATE TABLE dialer_campaign_accounts (
    campaign_id TEXT NOT NULL REFERENCES dialer_campaigns (campaign_id),
    account_id  TEXT NOT NULL,
    added_at    {{i64}} NOT NULL,
    PRIMARY KEY (campaign_id, account_id)
);
