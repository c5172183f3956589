//! The command line every service binary has: `--config FILE`, `serve` (also what runs
//! without a subcommand), `token`, and the service's own subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::ServiceSpec;
use crate::token::TokenArgs;

/// `NAME [--config FILE] [serve | token ... | the service's own commands]`.
#[derive(Debug, Parser)]
#[command(name = S::NAME, about = S::ABOUT)]
pub struct Cli<S: ServiceSpec, C: Subcommand = NoCommand> {
    #[arg(
        long,
        global = true,
        help = format!("TOML config file; {}_* environment variables override it", S::ENV_PREFIX)
    )]
    pub config: Option<PathBuf>,
    /// None: serve.
    #[command(subcommand)]
    pub cmd: Option<Command<S, C>>,
}

/// What the binary is asked to do.
#[derive(Debug, Subcommand)]
pub enum Command<S: ServiceSpec, C: Subcommand = NoCommand> {
    /// Serve gRPC (the default).
    Serve,
    /// Print a bearer token signed with the configured jwt_hs256_key.
    Token(TokenArgs<S>),
    /// The service's own commands.
    #[command(flatten)]
    Own(C),
}

/// A service with no commands of its own.
#[derive(Debug, Subcommand)]
pub enum NoCommand {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Demo;

    #[derive(Debug, Subcommand)]
    enum Own {
        /// Something only this service does.
        Purge,
    }

    #[test]
    fn serve_by_default_token_and_own_commands() {
        let parse = |args: &[&str]| Cli::<Demo, Own>::try_parse_from(args);
        let cli = parse(&["demo", "--config", "d.toml"]).expect("args");
        assert!(cli.cmd.is_none());
        assert_eq!(cli.config, Some(PathBuf::from("d.toml")));
        assert!(matches!(
            parse(&["demo", "serve"]).expect("args").cmd,
            Some(Command::Serve)
        ));
        assert!(matches!(
            parse(&["demo", "purge", "--config", "d.toml"])
                .expect("args")
                .cmd,
            Some(Command::Own(Own::Purge))
        ));
        let cli = parse(&["demo", "token", "--sub", "s", "--role", "crm"]).expect("args");
        assert!(matches!(cli.cmd, Some(Command::Token(t)) if t.sub == "s"));
        assert!(parse(&["demo", "bogus"]).is_err());
        let cli = Cli::<Demo>::try_parse_from(["demo"]).expect("no own commands");
        assert!(cli.cmd.is_none());
    }
}
