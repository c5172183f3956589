//! What tells one service's skeleton from another's.

use auth::Role;

/// A service's names and defaults, on a marker type (`dialer::config::Dialerd`,
/// `ledger::config::Ledgerd`) that [`crate::ServerSettings`] and [`crate::token::TokenArgs`]
/// are generic over.
pub trait ServiceSpec: std::fmt::Debug + Clone + Copy + Default + PartialEq + Send + Sync {
    /// The binary's name (`dialerd`).
    const NAME: &'static str;
    /// What the binary is, for `--help`.
    const ABOUT: &'static str;
    /// Prefix of the environment overrides: `DIALER` reads `DIALER_LISTEN`.
    const ENV_PREFIX: &'static str;
    /// `database_url` when the settings name none.
    const DEFAULT_DATABASE_URL: &'static str;
    /// `listen` when the settings name none.
    const DEFAULT_LISTEN: &'static str;
    /// The roles `token` mints, in the order its help lists them.
    const TOKEN_ROLES: &'static [Role];
    /// A minted token's lifetime unless `--hours` says otherwise.
    const TOKEN_HOURS: i64;
}

/// The service of this crate's tests.
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Demo;

#[cfg(test)]
impl ServiceSpec for Demo {
    const NAME: &'static str = "demo";
    const ABOUT: &'static str = "A service of the tests";
    const ENV_PREFIX: &'static str = "DEMO";
    const DEFAULT_DATABASE_URL: &'static str = "sqlite://demo.db?mode=rwc";
    const DEFAULT_LISTEN: &'static str = "127.0.0.1:50000";
    const TOKEN_ROLES: &'static [Role] = &[Role::Crm, Role::Admin];
    const TOKEN_HOURS: i64 = 5;
}
