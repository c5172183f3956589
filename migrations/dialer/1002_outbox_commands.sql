--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- The outbox carries every write the dialer makes in the ledger ({{dialect}}), not only outcomes:
-- holds, promises and consent changes from dispositions travel the same durable path. Keep in
-- step with the other dialect's 1002_outbox_commands.sql.

-- What a row carries: outcome (ContactOutcome), hold (Hold), promise (Promise) or consent
-- (SetConsentRequest), protobuf-encoded; the account and campaign it is about, so the engine
-- can refuse to dial an account while a write about it is unacknowledged and a stop can wait
-- for every replica's calls in progress.
ALTER TABLE dialer_outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'outcome'
    CHECK (kind IN ('outcome', 'hold', 'promise', 'consent'));
ALTER TABLE dialer_outbox ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
ALTER TABLE dialer_outbox ADD COLUMN campaign_id TEXT NOT NULL DEFAULT '';
CREATE INDEX dialer_outbox_account ON dialer_outbox (account_id);
CREATE INDEX dialer_outbox_campaign ON dialer_outbox (campaign_id, state);

ALTER TABLE dialer_outbox_dead ADD COLUMN kind TEXT NOT NULL DEFAULT 'outcome';
ALTER TABLE dialer_outbox_dead ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
ALTER TABLE dialer_outbox_dead ADD COLUMN campaign_id TEXT NOT NULL DEFAULT '';
