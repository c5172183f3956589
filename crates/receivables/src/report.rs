//! The portfolio report of `dialerctl ledger replay --json` (issue 12): aging as of D, the
//! credit balance, the KPIs of rule 8 for the period S..D and one line per account, sorted by
//! account id. The serde names are the contract other tools read.
//!
//! Each account is derived twice (as of S-1 for the beginning receivables, as of D for the
//! rest); period sums (charges, payments, reversals, refunds) come straight from the events
//! dated in S..D.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::book::{Account, Book, day_number};
use crate::event::EventKind;
use crate::ledger::{AccountState, Aging, PlanStatus, PromiseStatus};

/// The replay report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub as_of: Date,
    pub period_start: Date,
    pub aging: Aging,
    pub credit_balance_minor: i64,
    pub kpi: Kpi,
    /// Sorted by account id.
    pub accounts: Vec<AccountLine>,
}

/// One account of the report, as of D.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLine {
    pub account: String,
    #[serde(flatten)]
    pub aging: Aging,
    pub credit_balance_minor: i64,
    pub in_dispute: bool,
    pub settled: bool,
    /// Not to be sold or transferred (Reg F 1006.30(b)): settled or in dispute as of D. An
    /// extra key of the replay JSON (absent in older reports: false).
    #[serde(default)]
    pub transfer_blocked: bool,
}

impl AccountLine {
    /// The line of an account from its state as of D.
    pub fn new(account: &Account, state: &AccountState) -> AccountLine {
        AccountLine {
            account: account.id.clone(),
            aging: state.aging,
            credit_balance_minor: state.credit_balance_minor,
            in_dispute: state.in_dispute,
            settled: state.settled,
            transfer_blocked: state.transfer_blocked(),
        }
    }
}

/// The KPIs of rule 8 for the period S..D. Ratios are null when their denominator is zero
/// and rounded half away from zero to 2 decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpi {
    /// B: total open as of S-1.
    pub beginning_receivables_minor: i64,
    /// C: charges dated in S..D.
    pub charges_minor: i64,
    /// E: total open as of D.
    pub ending_receivables_minor: i64,
    /// N: payments dated in S..D minus reversals and refunds dated in S..D.
    pub net_collections_minor: i64,
    /// (E - Ec) / E x 100, Ec the current bucket as of D.
    pub past_due_percent: Option<f64>,
    /// (B + C - E) / (B + C - Ec) x 100.
    pub cei_percent: Option<f64>,
    /// E / C x days in the period (S..D inclusive).
    pub dso_days: Option<f64>,
    /// N / (B + C) x 100.
    pub liquidation_percent: Option<f64>,
    /// Promises due in S..D kept / broken as of D (superseded and pending ones not counted).
    pub promises_kept: u64,
    pub promises_broken: u64,
    /// kept / (kept + broken) x 100.
    pub promise_kept_percent: Option<f64>,
    /// Plans by status as of D (replaced ones not counted).
    pub plans_active: u64,
    pub plans_completed: u64,
    pub plans_broken: u64,
    pub accounts_in_dispute: u64,
}

/// A report that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("period_start {period_start} is after as_of {as_of}")]
    PeriodAfterAsOf { period_start: Date, as_of: Date },
}

/// `num / den` rounded half away from zero to 2 decimals; `None` when `den` is zero.
pub fn ratio(num: i128, den: i128) -> Option<f64> {
    if den == 0 {
        return None;
    }
    let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
    let scaled = num.saturating_mul(100);
    let hundredths = if scaled >= 0 {
        (scaled.saturating_mul(2) + den) / den.saturating_mul(2)
    } else {
        -((scaled.saturating_neg().saturating_mul(2) + den) / den.saturating_mul(2))
    };
    Some(hundredths as f64 / 100.0)
}

/// Aging and credit balance of the whole portfolio as of D: the fast path of the aging
/// report (one derivation per account).
pub fn portfolio_aging(book: &Book, as_of: Date) -> (Aging, i64) {
    let mut aging = Aging::default();
    let mut credit = 0i64;
    for account in book.accounts() {
        let state = account.state_as_of(as_of);
        aging.merge(&state.aging);
        credit = credit.saturating_add(state.credit_balance_minor);
    }
    (aging, credit)
}

/// Sums of one account's events dated in the period.
#[derive(Debug, Default)]
struct PeriodSums {
    charges: i64,
    payments: i64,
    reversals: i64,
    refunds: i64,
}

fn period_sums(account: &Account, s: i32, d: i32) -> PeriodSums {
    let mut sums = PeriodSums::default();
    for (event, link) in account.events.iter().zip(&account.links) {
        if link.day < s || link.day > d {
            continue;
        }
        match &event.kind {
            EventKind::Charge { amount_minor, .. } => {
                sums.charges = sums.charges.saturating_add(*amount_minor)
            }
            EventKind::Payment { amount_minor, .. } => {
                sums.payments = sums.payments.saturating_add(*amount_minor)
            }
            EventKind::Refund { amount_minor, .. } => {
                sums.refunds = sums.refunds.saturating_add(*amount_minor)
            }
            EventKind::Reversal { .. } => {
                if let Some(EventKind::Payment { amount_minor, .. }) = link
                    .target
                    .and_then(|t| account.events.get(t as usize))
                    .map(|e| &e.kind)
                {
                    sums.reversals = sums.reversals.saturating_add(*amount_minor);
                }
            }
            _ => {}
        }
    }
    sums
}

/// The replay report of the book for the period `period_start..=as_of`.
pub fn replay(book: &Book, period_start: Date, as_of: Date) -> Result<Report, ReportError> {
    replay_where(book, period_start, as_of, |_| true, |_, _| true)
}

/// An aging bucket, by the name the report and its CSV give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Current,
    D1_30,
    D31_60,
    D61_90,
    D91_120,
    D121Plus,
}

impl Bucket {
    /// The names, in bucket order: `current`, `1_30`, ... `121_plus`.
    pub const NAMES: [&'static str; 6] =
        ["current", "1_30", "31_60", "61_90", "91_120", "121_plus"];

    pub fn parse(name: &str) -> Option<Bucket> {
        Some(match name {
            "current" => Bucket::Current,
            "1_30" => Bucket::D1_30,
            "31_60" => Bucket::D31_60,
            "61_90" => Bucket::D61_90,
            "91_120" => Bucket::D91_120,
            "121_plus" => Bucket::D121Plus,
            _ => return None,
        })
    }

    /// This bucket's amount in an aging.
    pub fn of(self, aging: &Aging) -> i64 {
        match self {
            Bucket::Current => aging.current,
            Bucket::D1_30 => aging.d1_30,
            Bucket::D31_60 => aging.d31_60,
            Bucket::D61_90 => aging.d61_90,
            Bucket::D91_120 => aging.d91_120,
            Bucket::D121Plus => aging.d121_plus,
        }
    }
}

/// The replay report of the accounts `select` takes (by account, before any derivation)
/// whose state as of D `keep` takes (a bucket filter): the KPIs, aging and lines are those
/// of these accounts only. `keep` sees the accounts in id order, one call per selected
/// account, so a caller can note what it needs of each kept state (in line order).
pub fn replay_where(
    book: &Book,
    period_start: Date,
    as_of: Date,
    mut select: impl FnMut(&Account) -> bool,
    mut keep: impl FnMut(&Account, &AccountState) -> bool,
) -> Result<Report, ReportError> {
    if period_start > as_of {
        return Err(ReportError::PeriodAfterAsOf {
            period_start,
            as_of,
        });
    }
    let (s, d) = (day_number(period_start), day_number(as_of));
    let day_before = period_start.yesterday().ok();
    let mut aging = Aging::default();
    let mut credit = 0i64;
    let (mut b, mut c, mut n) = (0i64, 0i64, 0i64);
    let mut kpi = Kpi {
        beginning_receivables_minor: 0,
        charges_minor: 0,
        ending_receivables_minor: 0,
        net_collections_minor: 0,
        past_due_percent: None,
        cei_percent: None,
        dso_days: None,
        liquidation_percent: None,
        promises_kept: 0,
        promises_broken: 0,
        promise_kept_percent: None,
        plans_active: 0,
        plans_completed: 0,
        plans_broken: 0,
        accounts_in_dispute: 0,
    };
    let mut lines = Vec::with_capacity(book.accounts().size_hint().0);
    for account in book.accounts_by_id() {
        if !select(account) {
            continue;
        }
        let state = account.state_as_of(as_of);
        if !keep(account, &state) {
            continue;
        }
        if let Some(before) = day_before {
            b = b.saturating_add(account.state_as_of(before).aging.total);
        }
        let sums = period_sums(account, s, d);
        c = c.saturating_add(sums.charges);
        n = n.saturating_add(
            sums.payments
                .saturating_sub(sums.reversals)
                .saturating_sub(sums.refunds),
        );
        for promise in &state.promises {
            let due = day_number(promise.due);
            if due < s || due > d {
                continue;
            }
            match promise.status {
                PromiseStatus::Kept => kpi.promises_kept += 1,
                PromiseStatus::Broken => kpi.promises_broken += 1,
                PromiseStatus::Pending | PromiseStatus::Superseded => {}
            }
        }
        for plan in &state.plans {
            match plan.status {
                PlanStatus::Active => kpi.plans_active += 1,
                PlanStatus::Completed => kpi.plans_completed += 1,
                PlanStatus::Broken => kpi.plans_broken += 1,
                PlanStatus::Replaced => {}
            }
        }
        kpi.accounts_in_dispute += u64::from(state.in_dispute);
        aging.merge(&state.aging);
        credit = credit.saturating_add(state.credit_balance_minor);
        lines.push(AccountLine::new(account, &state));
    }
    let (bi, ci, ni) = (i128::from(b), i128::from(c), i128::from(n));
    let e = i128::from(aging.total);
    let ec = i128::from(aging.current);
    let days = i128::from(d) - i128::from(s) + 1;
    kpi.beginning_receivables_minor = b;
    kpi.charges_minor = c;
    kpi.ending_receivables_minor = aging.total;
    kpi.net_collections_minor = n;
    kpi.past_due_percent = ratio((e - ec) * 100, e);
    kpi.cei_percent = ratio((bi + ci - e) * 100, bi + ci - ec);
    kpi.dso_days = ratio(e * days, ci);
    kpi.liquidation_percent = ratio(ni * 100, bi + ci);
    let (kept, broken) = (
        i128::from(kpi.promises_kept),
        i128::from(kpi.promises_broken),
    );
    kpi.promise_kept_percent = ratio(kept * 100, kept + broken);
    Ok(Report {
        as_of,
        period_start,
        aging,
        credit_balance_minor: credit,
        kpi,
        accounts: lines,
    })
}

/// The accounts of a report as CSV for spreadsheets: a header row, then one row per
/// account. Fields are quoted when needed (RFC 4180), and an account id a spreadsheet would
/// read as a formula (`=`, `+`, `-`, `@`, tab, CR) is prefixed with `'`.
pub fn accounts_csv(report: &Report) -> String {
    let mut out = String::from(CSV_HEADER);
    for line in &report.accounts {
        push_csv_line(&mut out, line);
    }
    out
}

/// The header row of [`accounts_csv`] (with its CRLF).
/// `transfer_blocked` came last, after the first release: columns are only ever appended.
pub const CSV_HEADER: &str = "account,current,1_30,31_60,61_90,91_120,121_plus,total,credit_balance_minor,in_dispute,settled,transfer_blocked\r\n";

/// Appends one account's row of [`accounts_csv`] (with its CRLF): for writers that stream the
/// rows in chunks.
pub fn push_csv_line(out: &mut String, line: &AccountLine) {
    let a = &line.aging;
    out.push_str(&csv_field(&line.account));
    for n in [
        a.current,
        a.d1_30,
        a.d31_60,
        a.d61_90,
        a.d91_120,
        a.d121_plus,
        a.total,
        line.credit_balance_minor,
    ] {
        out.push(',');
        out.push_str(&n.to_string());
    }
    for flag in [line.in_dispute, line.settled, line.transfer_blocked] {
        out.push_str(if flag { ",true" } else { ",false" });
    }
    out.push_str("\r\n");
}

/// One CSV field (RFC 4180 quoting), guarded against spreadsheet formulas: text starting
/// with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The header of the KPI CSV (with its CRLF): the period, the accounts covered and the KPIs
/// under their JSON names.
pub const KPI_CSV_HEADER: &str = "period_start,as_of,accounts,beginning_receivables_minor,charges_minor,ending_receivables_minor,net_collections_minor,past_due_percent,cei_percent,dso_days,liquidation_percent,promises_kept,promises_broken,promise_kept_percent,plans_active,plans_completed,plans_broken,accounts_in_dispute\r\n";

/// Appends the KPI CSV's row (with its CRLF) for the period `period_start..=as_of` over
/// `accounts` accounts: a null ratio is an empty field.
pub fn push_kpi_row(out: &mut String, period_start: Date, as_of: Date, accounts: u64, k: &Kpi) {
    let ratio = |r: Option<f64>| r.map(|v| v.to_string()).unwrap_or_default();
    let fields = [
        period_start.to_string(),
        as_of.to_string(),
        accounts.to_string(),
        k.beginning_receivables_minor.to_string(),
        k.charges_minor.to_string(),
        k.ending_receivables_minor.to_string(),
        k.net_collections_minor.to_string(),
        ratio(k.past_due_percent),
        ratio(k.cei_percent),
        ratio(k.dso_days),
        ratio(k.liquidation_percent),
        k.promises_kept.to_string(),
        k.promises_broken.to_string(),
        ratio(k.promise_kept_percent),
        k.plans_active.to_string(),
        k.plans_completed.to_string(),
        k.plans_broken.to_string(),
        k.accounts_in_dispute.to_string(),
    ];
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}
