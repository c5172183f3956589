//! The time-barred flag (issue 12): whether a debt's statute of limitations has run as of
//! D, from a table of US states' limitation periods kept as data
//! (`data/statute_of_limitations_us.csv`, to be reviewed by counsel).
//!
//! Reg F 12 CFR 1006.26(b): a collector must not sue or threaten to sue on a time-barred
//! debt. Calling about it stays lawful, so this is a flag for the people and tools that
//! decide on legal action, not a dialing block.
//!
//! The clock starts on the **accrual date**: the oldest due date among the items still open
//! as of D (the first unpaid due date). A later payment does not restart it here: whether a
//! payment revives a debt differs by state (and some states forbid it for consumer debts), and
//! restarting where it does not apply would hide a barred debt. Counsel may choose otherwise;
//! the choice is this one function ([`accrual_date`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use jiff::civil::Date;

use crate::ledger::AccountState;

/// The table as shipped: state code, years for written contracts, years for open accounts,
/// source citation.
pub const US_TABLE_CSV: &str = include_str!("../data/statute_of_limitations_us.csv");

/// One state's limitation periods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limitation {
    pub written_contract_years: u8,
    pub open_account_years: u8,
    pub source: String,
}

impl Limitation {
    /// The period the flag uses: the shorter of the two, since which one a given debt falls
    /// under (a signed card agreement or an open account) is a legal question per debt, and
    /// the shorter never lets a barred debt pass as suable.
    pub fn years(&self) -> u8 {
        self.written_contract_years.min(self.open_account_years)
    }
}

/// A malformed table line (1-based line number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TableError {
    pub line: usize,
    pub message: String,
}

/// State code (upper case, `CA`) -> its limitation periods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitationsTable {
    by_state: HashMap<String, Limitation>,
}

impl LimitationsTable {
    /// Parses the CSV (header, then `state,written,open,"source"`).
    pub fn parse(text: &str) -> Result<LimitationsTable, TableError> {
        let mut by_state = HashMap::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let bad = |message: &str| TableError {
                line: i + 1,
                message: message.to_owned(),
            };
            if line.trim().is_empty() {
                continue;
            }
            let mut parts = line.splitn(4, ',');
            let (Some(state), Some(written), Some(open), Some(source)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad(
                    "expected state,written_contract_years,open_account_years,source",
                ));
            };
            let years = |s: &str| s.trim().parse::<u8>().ok().filter(|y| (1..=30).contains(y));
            let (Some(w), Some(o)) = (years(written), years(open)) else {
                return Err(bad("years must be whole numbers from 1 to 30"));
            };
            let source = source.trim().trim_matches('"').to_owned();
            if source.is_empty() {
                return Err(bad("source is required"));
            }
            let limitation = Limitation {
                written_contract_years: w,
                open_account_years: o,
                source,
            };
            if by_state
                .insert(state.trim().to_ascii_uppercase(), limitation)
                .is_some()
            {
                return Err(bad("state listed twice"));
            }
        }
        Ok(LimitationsTable { by_state })
    }

    /// The shipped US table.
    pub fn us() -> &'static LimitationsTable {
        static TABLE: OnceLock<LimitationsTable> = OnceLock::new();
        TABLE.get_or_init(|| LimitationsTable::parse(US_TABLE_CSV).unwrap_or_default())
    }

    /// The state's periods (`ca` and `CA` alike); `None` for a state not in the table.
    pub fn get(&self, state: &str) -> Option<&Limitation> {
        self.by_state
            .get(state.trim().to_ascii_uppercase().as_str())
    }

    pub fn len(&self) -> usize {
        self.by_state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_state.is_empty()
    }
}

/// The date the limitation period runs from: the oldest due date of the items open as of
/// D; `None` when nothing is open (nothing to sue on).
pub fn accrual_date(state: &AccountState) -> Option<Date> {
    state.open_items.iter().map(|i| i.due).min()
}

/// Time-barred as of `as_of` when `as_of` >= `accrual` + `years` (calendar years; a
/// 29 February accrual runs to 28 February in a common year).
pub fn barred(accrual: Date, years: u8, as_of: Date) -> bool {
    match accrual.checked_add(jiff::Span::new().years(i64::from(years))) {
        Ok(runs_out) => as_of >= runs_out,
        Err(_) => false,
    }
}

/// The flag for a debt whose consumer lives in `us_state` (the primary person's current
/// address), from its state as of D: false without an open item or a state in the table.
pub fn time_barred(table: &LimitationsTable, us_state: &str, state: &AccountState) -> bool {
    match (table.get(us_state), accrual_date(state)) {
        (Some(limitation), Some(accrual)) => barred(accrual, limitation.years(), state.as_of),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_lists_every_state_and_dc_with_a_source() {
        let t = LimitationsTable::parse(US_TABLE_CSV).unwrap();
        assert_eq!(t.len(), 51);
        let ca = t.get("ca").unwrap();
        assert_eq!((ca.written_contract_years, ca.open_account_years), (4, 4));
        assert!(ca.source.contains("337"));
        assert_eq!(t.get("FL").unwrap().years(), 4);
        assert!(t.get("PR").is_none());
    }

    #[test]
    fn barred_on_the_anniversary_not_the_day_before() {
        let accrual = Date::constant(2020, 3, 15);
        assert!(!barred(accrual, 3, Date::constant(2023, 3, 14)));
        assert!(barred(accrual, 3, Date::constant(2023, 3, 15)));
        let leap = Date::constant(2020, 2, 29);
        assert!(!barred(leap, 1, Date::constant(2021, 2, 27)));
        assert!(barred(leap, 1, Date::constant(2021, 2, 28)));
    }

    /// The flag reads the oldest open item's due date; paid off, nothing is barred; a
    /// state not in the table is never barred.
    #[test]
    fn time_barred_from_the_oldest_open_due_date() {
        let book = crate::jsonl::load(concat!(
            r#"{"type":"charge","id":"c1","account":"a","date":"2019-01-01","amount_minor":100,"due":"2019-01-31","category":"principal"}"#,
            "\n",
            r#"{"type":"charge","id":"c2","account":"a","date":"2021-06-01","amount_minor":50,"due":"2021-06-30","category":"fee"}"#,
            "\n",
            r#"{"type":"payment","id":"p1","account":"a","date":"2023-06-01","amount_minor":100,"applies_to":"c1"}"#,
        ))
        .unwrap();
        let account = book.account("a").unwrap();
        let table = LimitationsTable::us();
        // CA: 4 years from 2019-01-31.
        let before = account.state_as_of(Date::constant(2023, 1, 30));
        assert_eq!(accrual_date(&before), Some(Date::constant(2019, 1, 31)));
        assert!(!time_barred(table, "CA", &before));
        let on = account.state_as_of(Date::constant(2023, 1, 31));
        assert!(time_barred(table, "CA", &on));
        assert!(time_barred(table, "ca", &on));
        assert!(!time_barred(table, "IL", &on), "IL: 5 years");
        assert!(!time_barred(table, "PR", &on), "not in the table");
        // Once c1 is paid, the oldest open item is c2 (due 2021-06-30): not barred in CA
        // until 2025-06-30.
        let later = account.state_as_of(Date::constant(2024, 1, 1));
        assert_eq!(accrual_date(&later), Some(Date::constant(2021, 6, 30)));
        assert!(!time_barred(table, "CA", &later));
        assert!(time_barred(
            table,
            "CA",
            &account.state_as_of(Date::constant(2025, 6, 30))
        ));
    }

    #[test]
    fn a_bad_table_names_the_line() {
        let e = LimitationsTable::parse("state,w,o,source\nCA,4,x,\"s\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = LimitationsTable::parse("h\nCA,4,4,\"a\"\nca,4,4,\"b\"\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "state listed twice"));
    }
}
