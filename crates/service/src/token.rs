//! The `token` subcommand: a bearer JWT for a role, signed with the service's configured
//! HS256 key (operators' and scripts' way to get a credential).

use std::marker::PhantomData;

use auth::{Claims, Role};

use crate::ServiceSpec;

/// No token can be minted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no jwt_hs256_key configured")]
    NoKey,
    #[error(transparent)]
    Role(#[from] auth::AuthError),
}

/// `token --sub ID --role ROLE [--hours N]`, with the roles and default lifetime of `S`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs<S: ServiceSpec> {
    /// The caller's id (an agent's login name for role agent).
    #[arg(long)]
    pub sub: String,
    #[arg(
        long,
        value_parser = clap::builder::PossibleValuesParser::new(S::TOKEN_ROLES.iter().map(|r| r.as_str()))
    )]
    pub role: String,
    /// Lifetime in hours.
    #[arg(long, default_value_t = S::TOKEN_HOURS)]
    pub hours: i64,
    #[arg(skip)]
    pub service: PhantomData<S>,
}

impl<S: ServiceSpec> TokenArgs<S> {
    /// The token, signed with `key` (the service's `jwt_hs256_key`), expiring `hours` from now.
    pub fn mint(&self, key: Option<&str>) -> Result<String, TokenError> {
        let key = key.ok_or(TokenError::NoKey)?;
        let role: Role = self.role.parse()?;
        let claims = Claims {
            sub: self.sub.clone(),
            role,
            exp: Some(jiff::Timestamp::now().as_second() + self.hours * 3600),
        };
        Ok(auth::sign_hs256(key, &claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Demo;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        token: TokenArgs<Demo>,
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn mints_only_the_services_roles() {
        let cli = Cli::try_parse_from(["demo", "--sub", "c1", "--role", "crm"]).expect("args");
        assert_eq!(cli.token.hours, 5);
        let t = cli.token.mint(Some(KEY)).expect("token");
        let claims = auth::Auth::new(Some(KEY)).verify(&t).expect("valid");
        assert_eq!((claims.sub.as_str(), claims.role), ("c1", Role::Crm));
        assert!(matches!(cli.token.mint(None), Err(TokenError::NoKey)));
        assert!(Cli::try_parse_from(["demo", "--sub", "a", "--role", "agent"]).is_err());
    }
}
