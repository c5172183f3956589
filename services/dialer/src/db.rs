//! The dialer's own database (outbox, campaigns): its schema, `migrations/dialer`, one file per
//! migration for both dialects. Versions start at 1000 so the dialer may share the ledger's
//! database (and sqlx's one `_sqlx_migrations` table); `sqlstore` opens it and ignores the
//! ledger's versions there. The outbox and the campaign store each open a [`sqlstore::Db`]
//! with these and keep their own SQL.

/// The dialer's migrations, embedded in the binary.
pub static MIGRATIONS: sqlstore::Migrations = sqlstore::migrations!(
    "../../../migrations/dialer":
    "1000_outbox.sql",
    "1002_outbox_commands.sql",
    "1003_outbox_plans.sql",
    "1100_campaigns.sql",
    "1101_feed_cursor.sql",
    "1102_campaign_control.sql",
    "1103_campaign_leases.sql",
    "1104_campaign_pacing_state.sql",
);
