--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- The dialer's pre-dial check ({{dialect}}). Keep in step with the other dialect's 0002.

-- CheckAccounts reads an account's changes after a cursor.
CREATE INDEX changes_account ON changes (account_id, seq);

-- The change seq the dialer's pre-dial check confirmed the account against (0: none), kept
-- with each contact for audit.
ALTER TABLE contact_events ADD COLUMN checked_seq BIGINT NOT NULL DEFAULT 0;
