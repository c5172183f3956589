--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Where the dialer is in the ledger's change feed ({{Dialect}}): the last seq it handled, so a
-- restart resumes the feed instead of replaying it. One row per feed name. Keep in step with
-- migrations/dialer/{{other}}/1101_feed_cursor.sql.
CREATE TABLE dialer_feed_cursor (
    name       TEXT PRIMARY KEY,
    seq        {{i64}} NOT NULL,
    updated_at {{i64}} NOT NULL
);
