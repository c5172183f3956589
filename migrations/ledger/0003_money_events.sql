--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Receivables money events ({{dialect}}, issue 12). Append-only: a row is never updated or
-- deleted; balances, allocations and statuses are derived from the rows by the receivables
-- engine, so every report can be reproduced as of any past date.

-- One row per money event. `event_id` is unique in the ledger (one ledger is one
-- portfolio); `seq` is the arrival order the engine breaks same-date ties with; `body` is
-- the event as `receivables::Event` serialises it (the JSON Lines object), `content_hash`
-- the SHA-256 of `body` in hex; `event_date` is its `date` (YYYY-MM-DD).
CREATE TABLE money_events (
    seq          {{serial_pk}},
    event_id     TEXT NOT NULL UNIQUE,
    account_id   TEXT NOT NULL,
    event_date   TEXT NOT NULL,
    body         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
-- An import loads the events of the accounts it touches, in arrival order.
CREATE INDEX money_events_account ON money_events (account_id, seq);
