-- The dialer's pre-dial check (postgres). Keep in step with the other dialect's 0002.

-- CheckAccounts reads an account's changes after a cursor.
CREATE INDEX changes_account ON changes (account_id, seq);

-- The change seq the dialer's pre-dial check confirmed the account against (0: none), kept
-- with each contact for audit.
ALTER TABLE contact_events ADD COLUMN checked_seq BIGINT NOT NULL DEFAULT 0;
