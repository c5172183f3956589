//! The dialer runtime and `dialerd`, its gRPC service.
//!
//! It depends on the contracts (`ledger-api`, `auth`, `collections-proto`), the decision
//! and data crates (`compliance`, `pacing`, `queue`, `simulator`) and the carrier seam
//! (`carrier`: the `Carrier` trait, its events and the simulated network; the campaign engine
//! only ever sees the trait), never on the ledger service: the ledger is a gRPC peer
//! ([`ledger_link`], [`outbox`]). The embedded all-in-one and the load tools that start both
//! are in `services/allinone` (see docs/architecture.md).
//!
//! # Layout
//!
//! - [`account`]: the ledger's view of an account and its translation into compliance
//!   questions.
//! - [`campaign`]: a campaign's configuration and its validation.
//! - [`session`]: what agents and the engine say to each other (commands, events, screen
//!   pop, dispositions).
//! - [`engine`]: one task per campaign wiring pacing, queue, compliance, reservation,
//!   carrier, agents and outbox together.
//! - [`backend`]: the store sets (in-process, Redis, SQL) a deployment plugs in.
//! - [`sim_agents`]: a simulated agent team for the demo, tests and load tests.
//! - [`portfolio`]: a generated sample portfolio (demo, tests, load test).
//! - [`outcomes`]: the seam to the durable outbox that carries every attempt's outcome to the
//!   ledger exactly once.
//! - [`outbox`]: that outbox (SQLite or PostgreSQL) and its relay to the ledger.
//! - [`ledger_link`]: the dialer's client of the ledger (account views, the pre-dial check,
//!   the change feed, account lists).
//!
//! The service, `dialerd`:
//!
//! - [`config`]: the TOML file and `DIALER_*` overrides, validated at start.
//! - [`app`]: dialerd built from its configuration (stores, outbox, ledger link, registry).
//! - [`db`]: the dialer's schema: its migrations, opened through `sqlstore`.
//! - [`campaign_store`]: campaigns kept in the dialer's database.
//! - [`registry`]: campaign id to running campaign, and the campaign life cycle, shared by
//!   every replica on one database.
//! - [`replica`]: one live process per replica id.
//! - [`ownership`]: campaign leases with fencing tokens: one replica drives each campaign.
//! - [`grpc`]: the gRPC edge (CampaignService, AgentService, ComplianceService), its role
//!   table and its one mapping of errors to statuses.
//! - [`metrics`]: Prometheus figures per campaign.
//! - [`wallboard`]: the HTTP port: `/metrics` and the floor manager's web wallboard (pages,
//!   embedded assets, server-sent figures).
//! - [`server`]: the tonic stack (the role layer), health, reflection, TLS and the shutdown
//!   sequence.

pub mod account;
pub mod app;
pub mod backend;
pub mod campaign;
pub mod campaign_store;
pub mod config;
pub mod db;
pub mod engine;
pub mod grpc;
pub mod ledger_link;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod outcomes;
pub mod ownership;
pub mod portfolio;
pub mod registry;
pub mod replica;
pub mod server;
pub mod session;
pub mod sim_agents;
pub mod wallboard;
