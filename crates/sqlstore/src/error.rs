//! Why a database could not be opened.

/// A failure of [`crate::Db::open`].
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A migration file of the service cannot be rendered (a programming error the
    /// service's migration tests catch).
    #[error("migration file {file}: {problem}")]
    Template { file: &'static str, problem: String },
    /// The URL's scheme only: the rest may hold a password.
    #[error("unsupported database url scheme {0:?} (want postgres://... or sqlite:...)")]
    Url(String),
}
