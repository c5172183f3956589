--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Ledger schema ({{Dialect}}). Instants are BIGINT microseconds since the Unix epoch (UTC) in
-- both dialects, enums are their snake_case names as TEXT. Keep in step with
-- migrations/{{other}}/0001_ledger.sql: same tables, same columns, dialect-specific types only.

CREATE TABLE accounts (
    account_id   TEXT PRIMARY KEY,
    creditor     TEXT NOT NULL,
    known_zone   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE persons (
    account_id TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    person_id  TEXT NOT NULL,
    ord        INTEGER NOT NULL,
    full_name  TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (account_id, person_id)
);

CREATE TABLE phones (
    account_id         TEXT NOT NULL,
    person_id          TEXT NOT NULL,
    number             TEXT NOT NULL,
    ord                INTEGER NOT NULL,
    kind               TEXT NOT NULL,
    consent_automated  BOOLEAN NOT NULL,
    consent_source     TEXT NOT NULL,
    consent_at         BIGINT,
    consent_revoked_at BIGINT,
    employer_prohibits BOOLEAN NOT NULL,
    PRIMARY KEY (account_id, person_id, number),
    FOREIGN KEY (account_id, person_id) REFERENCES persons (account_id, person_id) ON DELETE CASCADE
);

CREATE TABLE addresses (
    account_id TEXT NOT NULL,
    person_id  TEXT NOT NULL,
    ord        INTEGER NOT NULL,
    line1      TEXT NOT NULL,
    city       TEXT NOT NULL,
    zip        TEXT NOT NULL,
    state      TEXT NOT NULL,
    country    TEXT NOT NULL,
    is_current BOOLEAN NOT NULL,
    PRIMARY KEY (account_id, person_id, ord),
    FOREIGN KEY (account_id, person_id) REFERENCES persons (account_id, person_id) ON DELETE CASCADE
);

CREATE TABLE debts (
    debt_id            TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    ord                INTEGER NOT NULL,
    balance_minor      BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    days_past_due      INTEGER NOT NULL,
    student_loan_group TEXT NOT NULL,
    original_creditor  TEXT NOT NULL
);
CREATE INDEX debts_account ON debts (account_id);

CREATE TABLE blackouts (
    account_id TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    ord        INTEGER NOT NULL,
    days       TEXT NOT NULL,
    from_time  TEXT NOT NULL,
    to_time    TEXT NOT NULL,
    since      BIGINT,
    until      BIGINT,
    number     TEXT NOT NULL,
    place      TEXT NOT NULL,
    PRIMARY KEY (account_id, ord)
);

CREATE TABLE call_consents (
    account_id TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    ord        INTEGER NOT NULL,
    debt_id    TEXT NOT NULL,
    given_at   BIGINT NOT NULL,
    days       INTEGER NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (account_id, ord)
);

-- Holds are never deleted: releasing one sets `until`.
CREATE TABLE holds (
    hold_id    TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    kind       TEXT NOT NULL,
    debt_id    TEXT NOT NULL,
    number     TEXT NOT NULL,
    since      BIGINT NOT NULL,
    until      BIGINT,
    set_by     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX holds_account ON holds (account_id);

CREATE TABLE promises (
    promise_id   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (account_id),
    debt_id      TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    due_date     TEXT NOT NULL,
    status       TEXT NOT NULL,
    outcome_key  TEXT NOT NULL,
    set_by       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX promises_account ON promises (account_id);

-- Append-only contact events: one row per idempotency key, never updated.
CREATE TABLE contact_events (
    event_id        {{serial_pk}},
    idempotency_key TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    person_id       TEXT NOT NULL,
    debt_ids        TEXT NOT NULL, -- JSON array of debt ids
    number          TEXT NOT NULL,
    direction       TEXT NOT NULL,
    channel         TEXT NOT NULL,
    dial_mode       TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    counts_for_regf BOOLEAN NOT NULL,
    party           TEXT NOT NULL,
    third_party_id  TEXT NOT NULL,
    campaign_id     TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    ring_ms         BIGINT NOT NULL,
    talk_ms         BIGINT NOT NULL,
    amd             TEXT NOT NULL,
    recording_ref   TEXT NOT NULL,
    disposition     TEXT NOT NULL,
    recorded_at     BIGINT NOT NULL
);
CREATE INDEX contact_events_account ON contact_events (account_id, started_at);

-- Which debts each event concerns (for per-debt history and retention).
CREATE TABLE contact_event_debts (
    debt_id    TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    event_id   BIGINT NOT NULL,
    PRIMARY KEY (debt_id, started_at, event_id)
);

-- Projection: per-debt contact summary, updated in the ingest transaction.
CREATE TABLE debt_activity (
    debt_id              TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL,
    last_activity_at     BIGINT NOT NULL,
    last_attempt_at      BIGINT,
    last_conversation_at BIGINT,
    attempts             BIGINT NOT NULL,
    regf_attempts        BIGINT NOT NULL,
    conversations        BIGINT NOT NULL
);

-- The change feed behind WatchChanges: written in the transaction of the change itself,
--@postgres -- under a transaction-level advisory lock so seq order equals commit order.
--@sqlite -- SQLite serializes writers, so seq order equals commit order.
CREATE TABLE changes (
    seq         {{serial_pk}},
    kind        TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    event_id    BIGINT,        -- kind 'outcome': the contact event
    ref_id      TEXT NOT NULL, -- hold_id, promise_id, account_id, phone number, event id
    payload     TEXT, -- JSON of the hold/consent/promise as changed
    recorded_at BIGINT NOT NULL
);

-- Who changed what (profile loads, holds, consents, promises). Contact events are their own
-- audit trail.
CREATE TABLE audit_log (
    id          {{serial_pk}},
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
