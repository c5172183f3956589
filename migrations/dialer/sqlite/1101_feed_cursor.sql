-- Where the dialer is in the ledger's change feed (SQLite): the last seq it handled, so a
-- restart resumes the feed instead of replaying it. One row per feed name. Keep in step with
-- migrations/dialer/postgres/1101_feed_cursor.sql.
CREATE TABLE dialer_feed_cursor (
    name       TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
