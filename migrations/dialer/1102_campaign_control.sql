--! Written once for both dialects: crates/sqlstore (migrate.rs) renders the {{tokens}} and
--! --@ lines per database. Each rendering must stay byte-for-byte what databases applied
--! (sqlx checksums, pinned by the services' migration tests): edit by a new migration.
-- Campaign control shared by replicas ({{dialect}}). Keep in step with the other dialect's 1102.

-- Bumped by every change of a campaign's state or configuration: each replica compares it
-- before it dials and picks the change up first.
ALTER TABLE dialer_campaigns ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Replica ids in use. A dialerd claims its id at start and renews the claim while it runs;
-- another process takes the id only once the claim has lapsed (or its holder is known dead),
-- so two live processes never write the outbox as one owner.
CREATE TABLE dialer_replicas (
    replica_id  TEXT PRIMARY KEY,
    -- host/pid/uuid of the process holding the id.
    instance    TEXT NOT NULL,
    claimed_at  BIGINT NOT NULL,
    renewed_at  BIGINT NOT NULL
);
