--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Dialer outbox ({{Dialect}}). Versions start at 1000: the dialer may share the ledger's
-- database and with it sqlx's one `_sqlx_migrations` table, where the ledger's versions are
-- small numbers. Tables are prefixed `dialer_` for the same reason. Instants are BIGINT
-- microseconds since the Unix epoch (UTC), as in the ledger. Keep in step with
-- migrations/dialer/{{other}}/1000_outbox.sql (dialect-specific types only).

-- One row per attempt not yet acknowledged by the ledger.
CREATE TABLE dialer_outbox (
    idempotency_key TEXT PRIMARY KEY,
    -- The dialer replica whose relay delivers the row.
    owner           TEXT NOT NULL,
    -- provisional: the call is in progress (never sent); ready: to be sent.
    state           TEXT NOT NULL CHECK (state IN ('provisional', 'ready')),
    -- Order in which rows became ready (the relay's order); NULL while provisional.
    ready_seq       BIGINT,
    -- Protobuf encoding of collections.ledger.v1.ContactOutcome (see docs/outbox.md).
    payload         {{bytes}} NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX dialer_outbox_relay ON dialer_outbox (owner, state, ready_seq, idempotency_key);

-- Outcomes the ledger rejected (REJECTED ack), kept with the error for an operator; never
-- retried automatically.
CREATE TABLE dialer_outbox_dead (
    idempotency_key TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    payload         {{bytes}} NOT NULL,
    error_code      TEXT NOT NULL,
    error_field     TEXT NOT NULL,
    error_message   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    dead_at         BIGINT NOT NULL
);
