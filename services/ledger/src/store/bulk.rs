//! Loads and reads of many accounts at once (issue 13, "fast loads"): `UpsertAccounts` commits
//! a chunk of records in one transaction with one statement per table (the rows bound as one
//! array per column, `sqlstore::Rows`), and the dialer reads a page of accounts with
//! everything its `AccountView` needs in a few queries per page, not per account. Same SQL
//! in both dialects (`select_rows` and `in_list` of `sql!`), so one code path: a single
//! record ([`Store::upsert_account`]) and a failed batch's records, one by one, are written
//! as groups of one. After loads, PostgreSQL's planner statistics are refreshed
//! ([`LoadStats`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlstore::{BindRows, Driver, List, Rows, sql, with_pool, write_tx};

use ledger_api::domain::*;

use receivables::Book;

use super::debts::opening_events;
use super::money::{MONEY_LOCK, NewRows, batch_refusal};
use super::{
    AccountRow, AddressRow, BlackoutRow, CHANGES_LOCK, CallConsentRow, DebtRow, EventRow, HoldRow,
    PersonRow, PhoneRow, PromiseRow, Result, Store, StoreError, assemble_account, derived_hold_id,
    json, opt_us, us,
};

/// Most accounts one [`Store::account_views`] call reads.
pub const MAX_VIEW_ACCOUNTS: usize = 1000;

/// Records loads write before the account tables' planner statistics are refreshed, at
/// least (and at least as many as the accounts counted at the last refresh: the tables
/// doubled, so a load of 1 M accounts into an empty ledger refreshes them 7 times).
const ANALYZE_AFTER: u64 = 10_000;

/// The tables a load writes and [`Store::account_views`] reads.
const ANALYZE_LOADED: &str = "ANALYZE accounts, persons, phones, addresses, debts, \
                              debt_activity, holds, blackouts, call_consents, money_events";

/// Loads since the last refresh of the account tables' statistics (shared by a store's
/// clones). Why: PostgreSQL's autovacuum analyzes a grown table a minute or more later (never
/// where it is off), and until then plans the dialer's page reads (`= ANY` of 1,000 ids) as
/// over tables it knows nothing of: measured over 1 M loaded accounts, a sequential scan of
/// 21 s a query instead of an index scan of 16 ms.
#[derive(Debug, Default)]
pub(crate) struct LoadStats {
    written: AtomicU64,
    /// Accounts in the table at the last refresh.
    at_last: AtomicU64,
    running: AtomicBool,
}

/// One account the dialer can queue: the profile (debts with their receivables figures),
/// its contacts since the asked instant, and its promises.
#[derive(Debug, Clone, PartialEq)]
pub struct DialingView {
    pub account: Account,
    pub contacts: Vec<ContactOutcome>,
    pub promises: Vec<Promise>,
}

/// A page of [`Store::account_views`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewPage {
    /// The views of the asked accounts that exist, in the order asked.
    pub views: Vec<DialingView>,
    /// Asked ids that are not accounts.
    pub not_found: Vec<String>,
    /// The change feed's head read before the page: every change up to it is in the views.
    pub as_of_seq: i64,
}

/// An account checked and ready to write: holds carry their account and id, the record's
/// JSON is its audit row's detail, and its hash tells an identical re-load apart.
struct Prepared {
    index: usize,
    acct: Account,
    json: String,
    hash: String,
}

/// Validates one record the way [`Store::upsert_account`] does, and serialises and hashes it
/// once (the audit detail and the hash are the same JSON).
fn prepare(index: usize, mut acct: Account) -> Result<Prepared> {
    for h in &mut acct.holds {
        if h.account_id.is_empty() {
            h.account_id.clone_from(&acct.account_id);
        }
    }
    acct.validate()?;
    for h in &mut acct.holds {
        if h.hold_id.is_empty() {
            h.hold_id = derived_hold_id(h);
        }
    }
    let json = json(&acct);
    Ok(Prepared {
        index,
        hash: sha256_hex(&json),
        json,
        acct,
    })
}

/// SHA-256 (hex) of a record's JSON: equal records, equal hashes (what
/// [`Store::upsert_account`] stores too).
fn sha256_hex(json: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(json.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Splits records into groups that one set of multi-row statements can write: no account,
/// debt or hold id twice in a group (a multi-row `ON CONFLICT DO UPDATE` may not touch a
/// row twice, and a later record of an account must win), order kept.
fn groups(records: Vec<Prepared>) -> Vec<Vec<Prepared>> {
    let mut out: Vec<Vec<Prepared>> = Vec::new();
    let mut current: Vec<Prepared> = Vec::new();
    let mut keys: HashSet<String> = HashSet::new();
    for p in records {
        let mine: Vec<String> = std::iter::once(format!("a:{}", p.acct.account_id))
            .chain(p.acct.debts.iter().map(|d| format!("d:{}", d.debt_id)))
            .chain(p.acct.holds.iter().map(|h| format!("h:{}", h.hold_id)))
            .collect();
        if mine.iter().any(|k| keys.contains(k)) {
            out.push(std::mem::take(&mut current));
            keys.clear();
        }
        keys.extend(mine);
        current.push(p);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Groups rows by their account id, keeping their order.
fn by_account<T>(rows: Vec<T>, key: impl Fn(&T) -> &str) -> HashMap<String, Vec<T>> {
    let mut m: HashMap<String, Vec<T>> = HashMap::new();
    for r in rows {
        m.entry(key(&r).to_owned()).or_default().push(r);
    }
    m
}

impl Store {
    /// Creates or replaces a batch of accounts: the records are checked one by one (a bad
    /// one is its own `Err` and stops nothing), the good ones written in one transaction per
    /// group with multi-row statements, the opening balances of their debts with them.
    /// Results are in the order given. A group the database refuses as a whole is written
    /// again record by record, so a record only the database can fault is reported alone.
    pub async fn upsert_accounts(
        &self,
        accounts: Vec<Account>,
        actor: &str,
    ) -> Vec<Result<UpsertOutcome>> {
        let mut results: Vec<Option<Result<UpsertOutcome>>> =
            (0..accounts.len()).map(|_| None).collect();
        let mut ready = Vec::with_capacity(accounts.len());
        for (i, a) in accounts.into_iter().enumerate() {
            match prepare(i, a) {
                Ok(p) => ready.push(p),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        for group in groups(ready) {
            match self.upsert_group(&group, actor).await {
                Ok(outcomes) => {
                    for (p, o) in group.iter().zip(outcomes) {
                        results[p.index] = Some(Ok(o));
                    }
                }
                Err(e) if group.len() == 1 => results[group[0].index] = Some(Err(e)),
                Err(e) => {
                    tracing::warn!(error = %e, records = group.len(), "batch upsert failed; writing record by record");
                    for p in group {
                        let i = p.index;
                        let one = std::slice::from_ref(&p);
                        results[i] = Some(
                            self.upsert_group(one, actor)
                                .await
                                .map(|mut o| o.pop().unwrap_or(UpsertOutcome::Unchanged)),
                        );
                    }
                }
            }
        }
        let written = results
            .iter()
            .filter(|r| matches!(r, Some(Ok(UpsertOutcome::Created | UpsertOutcome::Updated))))
            .count();
        self.loaded(written as u64);
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::Corrupt("record not applied".into()))))
            .collect()
    }

    /// Counts `n` records a load wrote; past [`ANALYZE_AFTER`] (PostgreSQL) refreshes the
    /// account tables' statistics in the background, one refresh at a time (see
    /// [`LoadStats`]).
    fn loaded(&self, n: u64) {
        if n == 0 || self.db.dialect() != sqlstore::Dialect::Postgres {
            return;
        }
        let stats = &self.loads;
        let written = stats.written.fetch_add(n, Ordering::Relaxed) + n;
        let due = ANALYZE_AFTER.max(stats.at_last.load(Ordering::Relaxed));
        if written < due || stats.running.swap(true, Ordering::AcqRel) {
            return;
        }
        stats.written.store(0, Ordering::Relaxed);
        let store = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let done: Result<i64> = async {
                with_pool!(store.db, p, D => {
                    sqlx::query(ANALYZE_LOADED).execute(p).await?;
                    let (n,): (i64,) = sqlx::query_as(
                        "SELECT reltuples::bigint FROM pg_class WHERE relname = 'accounts'")
                        .fetch_one(p)
                        .await?;
                    Ok(n)
                })
            }
            .await;
            match done {
                Ok(accounts) => {
                    store
                        .loads
                        .at_last
                        .store(accounts.max(0) as u64, Ordering::Relaxed);
                    tracing::info!(
                        accounts,
                        seconds = started.elapsed().as_secs_f64(),
                        "account tables analyzed after a load"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "analyzing the account tables after a load"),
            }
            store.loads.running.store(false, Ordering::Release);
        });
    }

    /// Creates or replaces one account's profile and posts its opening balances in one
    /// transaction: [`Store::upsert_accounts`] of one record.
    pub async fn upsert_account(&self, acct: Account, actor: &str) -> Result<UpsertOutcome> {
        self.upsert_accounts(vec![acct], actor)
            .await
            .pop()
            .unwrap_or_else(|| Err(StoreError::Corrupt("record not applied".into())))
    }

    /// Writes one group (no id twice, see [`groups`]) in one transaction: unchanged records
    /// (same hash) are skipped, changed ones replace their rows, every written account gets a
    /// change-feed row and an audit row, and every new hold its own.
    ///
    /// Each table is one statement whatever the group's size (rows bound as one array per
    /// column, see [`sqlstore::Rows`]). The money lock (for the opening balances) and the
    /// change lock are taken last, in that order (import_money's), so groups of concurrent
    /// streams write their rows side by side and queue only for those (seq order stays
    /// commit order). Rows are written in key order, so two groups touching the same rows
    /// lock them in one order.
    ///
    /// The opening balances ([`opening_events`], for every record of the group, unchanged
    /// ones too: it posts only what is missing) are money events of this transaction: the
    /// ACCOUNT change of the same commit stands for them in the feed (a reader reloading the
    /// account sees both), and the kept book absorbs them after the commit like any import.
    async fn upsert_group(&self, group: &[Prepared], actor: &str) -> Result<Vec<UpsertOutcome>> {
        let now = us(Timestamp::now());
        let today = self.today();
        let ids: Vec<String> = group.iter().map(|p| p.acct.account_id.clone()).collect();
        let debt_ids: Vec<&str> = group
            .iter()
            .flat_map(|p| p.acct.debts.iter().map(|d| d.debt_id.as_str()))
            .collect();
        // The openings step, in the transaction `$tx`: evaluates to (the kept book's seq it
        // was checked at, the last money seq written, the checked book, the debts that had
        // money events before: their dispute holds are set after the commit).
        macro_rules! openings {
            ($tx:ident, $D:ident) => {{
                sqlx::query(<$D as Driver>::WRITER_LOCK)
                    .bind(MONEY_LOCK)
                    .execute(&mut *$tx)
                    .await?;
                catch_up_in_tx!(self, $tx);
                let had: HashSet<String> = if debt_ids.is_empty() {
                    HashSet::new()
                } else {
                    let rows: Vec<(String,)> = sqlx::query_as(sql!($D,
                        "SELECT DISTINCT account_id FROM money_events WHERE account_id "
                        in_list(1)))
                        .bind(List(&debt_ids))
                        .fetch_all(&mut *$tx)
                        .await?;
                    rows.into_iter().map(|(d,)| d).collect()
                };
                let events = opening_events(group.iter().map(|p| &p.acct), &had, today);
                let before = self.money.seq().await;
                let mut checked = Book::of_accounts(Vec::new());
                if let Err(e) = checked.import(events.iter().cloned()) {
                    return Err(batch_refusal(&checked, &events, e));
                }
                let mut rows = NewRows::default();
                for e in &events {
                    let body = serde_json::to_string(e)
                        .map_err(|err| StoreError::Corrupt(format!("event {}: {err}", e.id)))?;
                    rows.push(e, body);
                }
                insert_money_rows!($tx, $D, rows, now);
                let after = if events.is_empty() {
                    before
                } else {
                    let (max,): (Option<i64>,) =
                        sqlx::query_as("SELECT max(seq) FROM money_events")
                            .fetch_one(&mut *$tx)
                            .await?;
                    max.unwrap_or(before)
                };
                (before, after, checked, had)
            }};
        }
        let (outcomes, max_seq, money) = write_tx!(self.db, tx, D => {
            let existing: Vec<(String, String)> = sqlx::query_as(sql!(D,
                "SELECT account_id, content_hash FROM accounts WHERE account_id " in_list(1)))
                .bind(List(&ids))
                .fetch_all(&mut *tx)
                .await?;
            let existing: HashMap<String, String> = existing.into_iter().collect();
            let outcomes: Vec<UpsertOutcome> = group
                .iter()
                .map(|p| match existing.get(&p.acct.account_id) {
                    Some(h) if *h == p.hash => UpsertOutcome::Unchanged,
                    Some(_) => UpsertOutcome::Updated,
                    None => UpsertOutcome::Created,
                })
                .collect();
            let mut changed: Vec<&Prepared> = group
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| **o != UpsertOutcome::Unchanged)
                .map(|(p, _)| p)
                .collect();
            if changed.is_empty() {
                let money = openings!(tx, D);
                tx.commit().await?;
                (outcomes, None, money)
            } else {
            changed.sort_unstable_by(|a, b| a.acct.account_id.cmp(&b.acct.account_id));
            let updated: Vec<&str> = changed
                .iter()
                .filter(|p| existing.contains_key(&p.acct.account_id))
                .map(|p| p.acct.account_id.as_str())
                .collect();
            // Revocations recorded before stick unless the record re-grants consent later.
            let mut revoked: HashMap<(String, String, String), i64> = HashMap::new();
            if !updated.is_empty() {
                let rows: Vec<(String, String, String, i64)> = sqlx::query_as(sql!(D,
                    "SELECT account_id, person_id, number, consent_revoked_at FROM phones \
                     WHERE consent_revoked_at IS NOT NULL AND account_id " in_list(1)))
                    .bind(List(&updated))
                    .fetch_all(&mut *tx)
                    .await?;
                revoked = rows.into_iter().map(|(a, p, n, r)| ((a, p, n), r)).collect();
                // Persons first: their phones and addresses go with them (ON DELETE CASCADE).
                for q in [
                    sql!(D, "DELETE FROM persons WHERE account_id " in_list(1)),
                    sql!(D, "DELETE FROM debts WHERE account_id " in_list(1)),
                    sql!(D, "DELETE FROM blackouts WHERE account_id " in_list(1)),
                    sql!(D, "DELETE FROM call_consents WHERE account_id " in_list(1)),
                ] {
                    sqlx::query(q).bind(List(&updated)).execute(&mut *tx).await?;
                }
            }
            let n = changed.len();
            sqlx::query(sql!(D,
                "INSERT INTO accounts (account_id, creditor, known_zone, content_hash, created_at, \
                 updated_at) " select_rows(text, text, text, text, bigint, bigint)
                " ON CONFLICT (account_id) DO UPDATE SET creditor = excluded.creditor, \
                 known_zone = excluded.known_zone, content_hash = excluded.content_hash, \
                 updated_at = excluded.updated_at"))
                .bind_rows(Rows::new(n)
                    .text(changed.iter().map(|p| p.acct.account_id.as_str()))
                    .text(changed.iter().map(|p| p.acct.creditor.as_str()))
                    .text(changed.iter().map(|p| p.acct.known_zone.as_str()))
                    .text(changed.iter().map(|p| p.hash.as_str()))
                    .bigint(std::iter::repeat_n(now, n))
                    .bigint(std::iter::repeat_n(now, n)))
                .execute(&mut *tx)
                .await?;
            let persons: Vec<(&str, &Person, i32)> = changed
                .iter()
                .flat_map(|p| {
                    p.acct.persons.iter().enumerate()
                        .map(|(i, x)| (p.acct.account_id.as_str(), x, i as i32))
                })
                .collect();
            let roles: Vec<String> = persons.iter().map(|r| enum_name(&r.1.role)).collect();
            sqlx::query(sql!(D,
                "INSERT INTO persons (account_id, person_id, ord, full_name, role) "
                select_rows(text, text, int, text, text)))
                .bind_rows(Rows::new(persons.len())
                    .text(persons.iter().map(|r| r.0))
                    .text(persons.iter().map(|r| r.1.person_id.as_str()))
                    .int(persons.iter().map(|r| r.2))
                    .text(persons.iter().map(|r| r.1.full_name.as_str()))
                    .text(roles.iter().map(String::as_str)))
                .execute(&mut *tx)
                .await?;
            let phones: Vec<(&str, &str, &Phone, i32, Option<i64>)> = persons
                .iter()
                .flat_map(|(a, person, _)| {
                    let revoked = &revoked;
                    person.phones.iter().enumerate().map(move |(j, ph)| {
                        let mut revoked_at = opt_us(ph.consent_revoked_at);
                        if !revoked.is_empty() {
                            let key = ((*a).to_owned(), person.person_id.clone(), ph.number.clone());
                            if let Some(&r) = revoked.get(&key) {
                                let regranted = opt_us(ph.consent_at).is_some_and(|c| c > r);
                                if !regranted && revoked_at.is_none_or(|x| x < r) {
                                    revoked_at = Some(r);
                                }
                            }
                        }
                        (*a, person.person_id.as_str(), ph, j as i32, revoked_at)
                    })
                })
                .collect();
            let kinds: Vec<String> = phones.iter().map(|r| enum_name(&r.2.kind)).collect();
            sqlx::query(sql!(D,
                "INSERT INTO phones (account_id, person_id, number, ord, kind, consent_automated, \
                 consent_source, consent_at, consent_revoked_at, employer_prohibits) "
                select_rows(text, text, text, int, text, bool, text, bigint, bigint, bool)))
                .bind_rows(Rows::new(phones.len())
                    .text(phones.iter().map(|r| r.0))
                    .text(phones.iter().map(|r| r.1))
                    .text(phones.iter().map(|r| r.2.number.as_str()))
                    .int(phones.iter().map(|r| r.3))
                    .text(kinds.iter().map(String::as_str))
                    .bool(phones.iter().map(|r| r.2.consent_automated))
                    .text(phones.iter().map(|r| r.2.consent_source.as_str()))
                    .opt_bigint(phones.iter().map(|r| opt_us(r.2.consent_at)))
                    .opt_bigint(phones.iter().map(|r| r.4))
                    .bool(phones.iter().map(|r| r.2.employer_prohibits)))
                .execute(&mut *tx)
                .await?;
            let addresses: Vec<(&str, &str, &Address, i32)> = persons
                .iter()
                .flat_map(|(a, person, _)| {
                    person.addresses.iter().enumerate()
                        .map(move |(j, ad)| (*a, person.person_id.as_str(), ad, j as i32))
                })
                .collect();
            if !addresses.is_empty() {
                sqlx::query(sql!(D,
                    "INSERT INTO addresses (account_id, person_id, ord, line1, city, zip, state, \
                     country, is_current) "
                    select_rows(text, text, int, text, text, text, text, text, bool)))
                    .bind_rows(Rows::new(addresses.len())
                        .text(addresses.iter().map(|r| r.0))
                        .text(addresses.iter().map(|r| r.1))
                        .int(addresses.iter().map(|r| r.3))
                        .text(addresses.iter().map(|r| r.2.line1.as_str()))
                        .text(addresses.iter().map(|r| r.2.city.as_str()))
                        .text(addresses.iter().map(|r| r.2.zip.as_str()))
                        .text(addresses.iter().map(|r| r.2.state.as_str()))
                        .text(addresses.iter().map(|r| r.2.country.as_str()))
                        .bool(addresses.iter().map(|r| r.2.current)))
                    .execute(&mut *tx)
                    .await?;
            }
            let mut debts: Vec<(&str, &Debt, i32)> = changed
                .iter()
                .flat_map(|p| {
                    p.acct.debts.iter().enumerate()
                        .map(|(i, d)| (p.acct.account_id.as_str(), d, i as i32))
                })
                .collect();
            debts.sort_unstable_by(|a, b| a.1.debt_id.cmp(&b.1.debt_id));
            // Debts whose activity row existed (a reload, a debt moved between accounts):
            // their row's account is set under the change lock below, where outcome ingest
            // writes debt_activity (one lock order); new rows lock nothing anyone waits on.
            let mut known_activity: Vec<(&str, &str)> = Vec::new();
            if !debts.is_empty() {
                sqlx::query(sql!(D,
                    "INSERT INTO debts (debt_id, account_id, ord, balance_minor, currency, \
                     days_past_due, student_loan_group, original_creditor) "
                    select_rows(text, text, int, bigint, text, int, text, text)
                    " ON CONFLICT (debt_id) DO UPDATE SET account_id = excluded.account_id, \
                     ord = excluded.ord, balance_minor = excluded.balance_minor, \
                     currency = excluded.currency, days_past_due = excluded.days_past_due, \
                     student_loan_group = excluded.student_loan_group, \
                     original_creditor = excluded.original_creditor"))
                    .bind_rows(Rows::new(debts.len())
                        .text(debts.iter().map(|r| r.1.debt_id.as_str()))
                        .text(debts.iter().map(|r| r.0))
                        .int(debts.iter().map(|r| r.2))
                        .bigint(debts.iter().map(|r| r.1.balance_minor))
                        .text(debts.iter().map(|r| r.1.currency.as_str()))
                        .int(debts.iter().map(|r| r.1.days_past_due))
                        .text(debts.iter().map(|r| r.1.student_loan_group.as_str()))
                        .text(debts.iter().map(|r| r.1.original_creditor.as_str())))
                    .execute(&mut *tx)
                    .await?;
                let fresh: Vec<(String,)> = sqlx::query_as(sql!(D,
                    "INSERT INTO debt_activity (debt_id, account_id, last_activity_at, attempts, \
                     regf_attempts, conversations) "
                    select_rows(text, text, bigint, bigint, bigint, bigint)
                    " ON CONFLICT (debt_id) DO NOTHING RETURNING debt_id"))
                    .bind_rows(Rows::new(debts.len())
                        .text(debts.iter().map(|r| r.1.debt_id.as_str()))
                        .text(debts.iter().map(|r| r.0))
                        .bigint(std::iter::repeat_n(now, debts.len()))
                        .bigint(std::iter::repeat_n(0, debts.len()))
                        .bigint(std::iter::repeat_n(0, debts.len()))
                        .bigint(std::iter::repeat_n(0, debts.len())))
                    .fetch_all(&mut *tx)
                    .await?;
                if fresh.len() < debts.len() {
                    let fresh: HashSet<String> = fresh.into_iter().map(|(d,)| d).collect();
                    known_activity = debts
                        .iter()
                        .filter(|r| !fresh.contains(&r.1.debt_id))
                        .map(|r| (r.1.debt_id.as_str(), r.0))
                        .collect();
                }
            }
            let blackouts: Vec<(&str, &Blackout, i32)> = changed
                .iter()
                .flat_map(|p| {
                    p.acct.blackouts.iter().enumerate()
                        .map(|(i, x)| (p.acct.account_id.as_str(), x, i as i32))
                })
                .collect();
            if !blackouts.is_empty() {
                let days: Vec<String> = blackouts
                    .iter()
                    .map(|r| r.1.days.iter().map(enum_name).collect::<Vec<_>>().join(","))
                    .collect();
                let places: Vec<String> = blackouts
                    .iter()
                    .map(|r| r.1.place.map(|p| enum_name(&p)).unwrap_or_default())
                    .collect();
                sqlx::query(sql!(D,
                    "INSERT INTO blackouts (account_id, ord, days, from_time, to_time, since, \
                     until, number, place) "
                    select_rows(text, int, text, text, text, bigint, bigint, text, text)))
                    .bind_rows(Rows::new(blackouts.len())
                        .text(blackouts.iter().map(|r| r.0))
                        .int(blackouts.iter().map(|r| r.2))
                        .text(days.iter().map(String::as_str))
                        .text(blackouts.iter().map(|r| r.1.from.as_str()))
                        .text(blackouts.iter().map(|r| r.1.to.as_str()))
                        .opt_bigint(blackouts.iter().map(|r| opt_us(r.1.since)))
                        .opt_bigint(blackouts.iter().map(|r| opt_us(r.1.until)))
                        .text(blackouts.iter().map(|r| r.1.number.as_str()))
                        .text(places.iter().map(String::as_str)))
                    .execute(&mut *tx)
                    .await?;
            }
            let consents: Vec<(&str, &CallConsent, i32)> = changed
                .iter()
                .flat_map(|p| {
                    p.acct.call_consents.iter().enumerate()
                        .map(|(i, x)| (p.acct.account_id.as_str(), x, i as i32))
                })
                .collect();
            if !consents.is_empty() {
                sqlx::query(sql!(D,
                    "INSERT INTO call_consents (account_id, ord, debt_id, given_at, days, \
                     revoked_at) " select_rows(text, int, text, bigint, int, bigint)))
                    .bind_rows(Rows::new(consents.len())
                        .text(consents.iter().map(|r| r.0))
                        .int(consents.iter().map(|r| r.2))
                        .text(consents.iter().map(|r| r.1.debt_id.as_str()))
                        .bigint(consents.iter().map(|r| us(r.1.given_at)))
                        .int(consents.iter().map(|r| r.1.days as i32))
                        .opt_bigint(consents.iter().map(|r| opt_us(r.1.revoked_at))))
                    .execute(&mut *tx)
                    .await?;
            }
            let mut holds: Vec<(&str, &Hold)> = changed
                .iter()
                .flat_map(|p| p.acct.holds.iter().map(|h| (p.acct.account_id.as_str(), h)))
                .collect();
            holds.sort_unstable_by(|a, b| a.1.hold_id.cmp(&b.1.hold_id));
            let mut inserted: HashSet<String> = HashSet::new();
            if !holds.is_empty() {
                let kinds: Vec<String> = holds.iter().map(|r| enum_name(&r.1.kind)).collect();
                let rows: Vec<(String,)> = sqlx::query_as(sql!(D,
                    "INSERT INTO holds (hold_id, account_id, kind, debt_id, number, since, until, \
                     set_by, reason, created_at, updated_at) "
                    select_rows(text, text, text, text, text, bigint, bigint, text, text, bigint,
                        bigint)
                    " ON CONFLICT (hold_id) DO NOTHING RETURNING hold_id"))
                    .bind_rows(Rows::new(holds.len())
                        .text(holds.iter().map(|r| r.1.hold_id.as_str()))
                        .text(holds.iter().map(|r| r.0))
                        .text(kinds.iter().map(String::as_str))
                        .text(holds.iter().map(|r| r.1.debt_id.as_str()))
                        .text(holds.iter().map(|r| r.1.number.as_str()))
                        .bigint(holds.iter().map(|r| us(r.1.since)))
                        .opt_bigint(holds.iter().map(|r| opt_us(r.1.until)))
                        .text(holds.iter().map(|r| {
                            if r.1.set_by.is_empty() { actor } else { r.1.set_by.as_str() }
                        }))
                        .text(holds.iter().map(|r| r.1.reason.as_str()))
                        .bigint(std::iter::repeat_n(now, holds.len()))
                        .bigint(std::iter::repeat_n(now, holds.len())))
                    .fetch_all(&mut *tx)
                    .await?;
                inserted = rows.into_iter().map(|(h,)| h).collect();
            }
            // The feed and the audit log, in record order: per account a change (no payload)
            // and the record; per new hold a change and an audit row with the hold as JSON.
            changed.sort_unstable_by_key(|p| p.index);
            let account_kind = enum_name(&ChangeKind::Account);
            let hold_kind = enum_name(&ChangeKind::Hold);
            let new_holds: Vec<(&str, &Hold, String)> = changed
                .iter()
                .flat_map(|p| p.acct.holds.iter().map(|h| (p.acct.account_id.as_str(), h)))
                .filter(|(_, h)| inserted.contains(&h.hold_id))
                .map(|(a, h)| (a, h, json(h)))
                .collect();
            let feed_len = changed.len() + new_holds.len();
            let feed_kind = std::iter::repeat_n(account_kind.as_str(), changed.len())
                .chain(std::iter::repeat_n(hold_kind.as_str(), new_holds.len()));
            let feed_account = changed
                .iter()
                .map(|p| p.acct.account_id.as_str())
                .chain(new_holds.iter().map(|r| r.0));
            let feed_ref = changed
                .iter()
                .map(|p| p.acct.account_id.as_str())
                .chain(new_holds.iter().map(|r| r.1.hold_id.as_str()));
            sqlx::query(sql!(D,
                "INSERT INTO audit_log (at, actor, action, entity_kind, entity_id, account_id, \
                 detail) " select_rows(bigint, text, text, text, text, text, text)))
                .bind_rows(Rows::new(feed_len)
                    .bigint(std::iter::repeat_n(now, feed_len))
                    .text(std::iter::repeat_n(actor, feed_len))
                    .text(std::iter::repeat_n("upsert_account", changed.len())
                        .chain(std::iter::repeat_n("set_hold", new_holds.len())))
                    .text(std::iter::repeat_n("account", changed.len())
                        .chain(std::iter::repeat_n("hold", new_holds.len())))
                    .text(feed_ref.clone())
                    .text(feed_account.clone())
                    .text(changed
                        .iter()
                        .map(|p| p.json.as_str())
                        .chain(new_holds.iter().map(|r| r.2.as_str()))))
                .execute(&mut *tx)
                .await?;
            let money = openings!(tx, D);
            // Only now the change lock: from the first feed row to the commit, so seq order
            // is commit order. debt_activity rows that existed are written under it too.
            sqlx::query(<D as Driver>::WRITER_LOCK)
                .bind(CHANGES_LOCK)
                .execute(&mut *tx)
                .await?;
            if !known_activity.is_empty() {
                sqlx::query(sql!(D,
                    "UPDATE debt_activity SET account_id = m.c2 FROM (" select_rows(text, text)
                    ") AS m WHERE debt_activity.debt_id = m.c1 AND debt_activity.account_id <> m.c2"))
                    .bind_rows(Rows::new(known_activity.len())
                        .text(known_activity.iter().map(|r| r.0))
                        .text(known_activity.iter().map(|r| r.1)))
                    .execute(&mut *tx)
                    .await?;
            }
            let seqs: Vec<(i64,)> = sqlx::query_as(sql!(D,
                "INSERT INTO changes (kind, account_id, event_id, ref_id, payload, recorded_at) "
                select_rows(text, text, bigint, text, text, bigint) " RETURNING seq"))
                .bind_rows(Rows::new(feed_len)
                    .text(feed_kind)
                    .text(feed_account)
                    .opt_bigint(std::iter::repeat_n(None, feed_len))
                    .text(feed_ref)
                    .opt_text(std::iter::repeat_n(None, changed.len())
                        .chain(new_holds.iter().map(|r| Some(r.2.as_str()))))
                    .bigint(std::iter::repeat_n(now, feed_len)))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            (outcomes, seqs.into_iter().map(|(s,)| s).max(), money)
            }
        });
        if let Some(s) = max_seq {
            self.bump(s);
        }
        let (before, after, checked, had) = money;
        if after > before {
            self.money.absorb(before, after, checked).await;
        }
        // Debts with money events from before the ledger knew them: their disputes' holds,
        // now that their account exists.
        let earlier: Vec<String> = debt_ids
            .iter()
            .filter(|d| had.contains(**d))
            .map(|d| (*d).to_owned())
            .collect();
        if !earlier.is_empty() {
            self.sync_dispute_holds(&earlier, actor).await?;
        }
        Ok(outcomes)
    }

    /// What the dialer queues an account with, for up to [`MAX_VIEW_ACCOUNTS`] accounts in a
    /// few queries (not per account): each account as [`Store::get_account`] reads it, its
    /// contacts since `since` (as `GetContactHistory` lists them) and its promises (as
    /// `ListPromises`). `as_of_seq` is the feed's head read first.
    pub async fn account_views(
        &self,
        ids: &[String],
        since: Option<Timestamp>,
    ) -> Result<ViewPage> {
        if ids.len() > MAX_VIEW_ACCOUNTS {
            return Err(ValidationError::new(
                "account_ids",
                format!("at most {MAX_VIEW_ACCOUNTS} per call"),
            )
            .into());
        }
        let as_of_seq = self.max_seq().await?;
        let mut unique: Vec<String> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let since_us = since.map_or(i64::MIN, us);
        let (
            accounts,
            persons,
            phones,
            addresses,
            debts,
            holds,
            blackouts,
            consents,
            events,
            promises,
        ) = with_pool!(self.db, p, D => {
            let accounts: Vec<AccountRow> = sqlx::query_as(sql!(D,
                "SELECT account_id, creditor, known_zone, updated_at FROM accounts \
                 WHERE account_id " in_list(1)))
                .bind(List(&unique)).fetch_all(p).await?;
            let persons: Vec<PersonRow> = sqlx::query_as(sql!(D,
                "SELECT account_id, person_id, full_name, role FROM persons WHERE account_id "
                in_list(1) " ORDER BY account_id, ord"))
                .bind(List(&unique)).fetch_all(p).await?;
            let phones: Vec<PhoneRow> = sqlx::query_as(sql!(D,
                "SELECT account_id, person_id, number, kind, consent_automated, consent_source, \
                 consent_at, consent_revoked_at, employer_prohibits FROM phones WHERE account_id "
                in_list(1) " ORDER BY account_id, person_id, ord"))
                .bind(List(&unique)).fetch_all(p).await?;
            let addresses: Vec<AddressRow> = sqlx::query_as(sql!(D,
                "SELECT account_id, person_id, line1, city, zip, state, country, is_current \
                 FROM addresses WHERE account_id " in_list(1) " ORDER BY account_id, person_id, ord"))
                .bind(List(&unique)).fetch_all(p).await?;
            let debts: Vec<DebtRow> = sqlx::query_as(sql!(D,
                "SELECT d.account_id, d.debt_id, d.balance_minor, d.currency, d.days_past_due, \
                 d.student_loan_group, d.original_creditor, a.last_activity_at \
                 FROM debts d LEFT JOIN debt_activity a ON a.debt_id = d.debt_id \
                 WHERE d.account_id " in_list(1) " ORDER BY d.account_id, d.ord"))
                .bind(List(&unique)).fetch_all(p).await?;
            let holds: Vec<HoldRow> = sqlx::query_as(sql!(D,
                "SELECT hold_id, account_id, kind, debt_id, number, since, until, set_by, reason \
                 FROM holds WHERE account_id " in_list(1) " ORDER BY account_id, since, hold_id"))
                .bind(List(&unique)).fetch_all(p).await?;
            let blackouts: Vec<BlackoutRow> = sqlx::query_as(sql!(D,
                "SELECT account_id, days, from_time, to_time, since, until, number, place \
                 FROM blackouts WHERE account_id " in_list(1) " ORDER BY account_id, ord"))
                .bind(List(&unique)).fetch_all(p).await?;
            let consents: Vec<CallConsentRow> = sqlx::query_as(sql!(D,
                "SELECT account_id, debt_id, given_at, days, revoked_at FROM call_consents \
                 WHERE account_id " in_list(1) " ORDER BY account_id, ord"))
                .bind(List(&unique)).fetch_all(p).await?;
            let events: Vec<EventRow> = sqlx::query_as(sql!(D,
                "SELECT " event_cols!() " FROM contact_events WHERE started_at >= $2 \
                 AND account_id " in_list(1) " ORDER BY account_id, started_at, event_id"))
                .bind(List(&unique)).bind(since_us).fetch_all(p).await?;
            let promises: Vec<PromiseRow> = sqlx::query_as(sql!(D,
                "SELECT promise_id, account_id, debt_id, amount_minor, currency, due_date, \
                 status, outcome_key, set_by, created_at, updated_at FROM promises \
                 WHERE account_id " in_list(1) " ORDER BY account_id, created_at, promise_id"))
                .bind(List(&unique)).fetch_all(p).await?;
            (accounts, persons, phones, addresses, debts, holds, blackouts, consents, events, promises)
        });
        let mut persons = by_account(persons, |r| &r.account_id);
        let mut phones = by_account(phones, |r| &r.account_id);
        let mut addresses = by_account(addresses, |r| &r.account_id);
        let mut debts = by_account(debts, |r| &r.account_id);
        let mut holds = by_account(holds, |r| &r.account_id);
        let mut blackouts = by_account(blackouts, |r| &r.account_id);
        let mut consents = by_account(consents, |r| &r.account_id);
        let mut events = by_account(events, |r| &r.account_id);
        let mut promises = by_account(promises, |r| &r.account_id);
        let mut found: HashMap<String, DialingView> = HashMap::with_capacity(accounts.len());
        for row in accounts {
            let id = row.account_id.clone();
            let account = assemble_account(
                row,
                persons.remove(&id).unwrap_or_default(),
                phones.remove(&id).unwrap_or_default(),
                addresses.remove(&id).unwrap_or_default(),
                debts.remove(&id).unwrap_or_default(),
                holds.remove(&id).unwrap_or_default(),
                blackouts.remove(&id).unwrap_or_default(),
                consents.remove(&id).unwrap_or_default(),
            )?;
            let contacts = events
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .map(EventRow::into_outcome)
                .collect::<Result<_>>()?;
            let promises = promises
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .map(PromiseRow::into_promise)
                .collect::<Result<_>>()?;
            found.insert(
                id,
                DialingView {
                    account,
                    contacts,
                    promises,
                },
            );
        }
        let mut page_accounts: Vec<&mut Account> =
            found.values_mut().map(|v| &mut v.account).collect();
        self.fill_receivables_many(&mut page_accounts).await?;
        let mut page = ViewPage {
            as_of_seq,
            ..ViewPage::default()
        };
        for id in ids {
            // An id asked twice is served once.
            match found.remove(id) {
                Some(v) => page.views.push(v),
                None if !page.views.iter().any(|v| v.account.account_id == *id) => {
                    page.not_found.push(id.clone())
                }
                None => {}
            }
        }
        Ok(page)
    }
}
