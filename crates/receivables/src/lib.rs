//! The receivables engine of issue 12: money events in, balances, aging, commitments,
//! disputes, portfolio KPIs and the Reg F itemization out, as of any date.
//!
//! Pure: no database, no network, no clock. Nothing is updated in place; every figure is a
//! function of the events dated <= D, so any report can be reproduced as of any past date.
//! `ledgerd` stores the events and calls this crate; `dialerctl ledger replay` feeds it a
//! JSON Lines file through the same [`Book::import`] path. The semantics (rules 1-8) are
//! written up in `docs/receivables.md`.
//!
//! # Example
//!
//! What `dialerctl ledger replay --json` does, minus the store:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = r#"
//! {"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal"}
//! {"type":"payment","id":"p1","account":"a","date":"2024-03-10","amount_minor":300}
//! "#;
//! let book = receivables::jsonl::load(file)?;
//! let report = receivables::replay(&book, "2024-03-01".parse()?, "2024-03-31".parse()?)?;
//! assert_eq!(report.aging.d31_60, 700);
//! assert_eq!(report.kpi.net_collections_minor, 300);
//! println!("{}", serde_json::to_string(&report)?);
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`event`]: the money events as the JSON Lines format names them, their serde and the
//!   checks one event passes on its own.
//! - [`book`]: the validated events by account ([`Book`], [`Account`]): references, one
//!   reversal per payment, currency, id idempotence, all-or-nothing batches.
//! - [`jsonl`]: the event file, refused as a whole with the line and field.
//! - [`ledger`]: the derivation of one account as of D ([`AccountState`]): allocation,
//!   reversals, credit balance, refunds, write-offs, settlements, aging, promises, plans,
//!   disputes.
//! - [`report`]: the replay report ([`Report`]) with the KPIs of rule 8, the aging fast
//!   path, and the accounts as CSV.
//! - [`limitations`]: the time-barred flag from a table of US states' limitation periods
//!   (data, to be reviewed by counsel).
//! - [`regf`]: the Reg F validation-notice itemization ([`Itemization`]).
//! - [`consumer`]: several debts of one consumer: a payment split that never touches a
//!   disputed debt ([`split_payment`]), and the do-not-transfer flag.

pub mod book;
pub mod consumer;
pub mod event;
pub mod jsonl;
pub mod ledger;
pub mod limitations;
pub mod regf;
pub mod report;

pub use book::{Account, BatchError, Book, ImportSummary, Inserted};
pub use consumer::{
    ConsumerPayment, ConsumerPaymentError, PaymentSplit, apply_consumer_payment,
    plan_consumer_payment, split_payment,
};
pub use event::{Category, Event, EventError, EventKind, Installment, Resolution};
pub use jsonl::LineError;
pub use ledger::{
    AccountState, Aging, Commitment, DisputeState, ItemKind, OpenItem, PlanState, PlanStatus,
    PromiseStatus, SettlementStatus, Totals,
};
pub use limitations::{LimitationsTable, time_barred};
pub use regf::Itemization;
pub use report::{
    AccountLine, Bucket, CSV_HEADER, KPI_CSV_HEADER, Kpi, Report, ReportError, accounts_csv,
    csv_field, portfolio_aging, push_csv_line, push_kpi_row, replay, replay_where,
};
