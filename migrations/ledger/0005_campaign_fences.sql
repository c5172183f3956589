--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Campaign fences ({{dialect}}, issue 13): the highest campaign-lease fencing token the
-- ledger has seen per campaign. A dialer's command carrying a lower one is refused; the row
-- is written in the command's own transaction (docs/ledger.md, "Campaign fences").
CREATE TABLE campaign_fences (
    campaign_id TEXT PRIMARY KEY,
    token       BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
