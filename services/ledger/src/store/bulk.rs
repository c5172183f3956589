//! Loads and reads of many accounts at once (issue 13, "fast loads"): `UpsertAccounts` commits
//! a chunk of records in one transaction with multi-row statements, and the dialer reads a
//! page of accounts with everything its `AccountView` needs in a few queries per page, not
//! per account. Same SQL in both dialects (multi-row `VALUES` and `sql!`'s `in_list`), so one
//! code path; the per-account path ([`Store::upsert_account`], [`Store::get_account`]) stays
//! for single records and is what a failed batch falls back to, record by record.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlstore::{Driver, List, sql, with_pool, write_tx};

use ledger_api::domain::*;

use super::{
    AccountRow, AddressRow, BlackoutRow, CHANGES_LOCK, CallConsentRow, DebtRow, EventRow, HoldRow,
    PersonRow, PhoneRow, PromiseRow, Result, Store, StoreError, assemble_account, derived_hold_id,
    json, opt_us, us,
};

/// Most bound parameters one multi-row statement carries (SQLite allows 32,766, PostgreSQL
/// 65,535): a statement writes `MAX_BINDS / columns` rows.
const MAX_BINDS: usize = 30_000;

/// Most accounts one [`Store::account_views`] call reads.
pub const MAX_VIEW_ACCOUNTS: usize = 1000;

/// Runs a multi-row `INSERT` (`$head VALUES (..), (..) $tail`) over `$rows` in statements of at
/// most [`MAX_BINDS`] parameters; `$push` binds one row's `$cols` values on `$b`.
macro_rules! insert_rows {
    ($tx:ident, $D:ident, $head:expr, $tail:expr, $rows:expr, $cols:expr, |$b:ident, $r:ident| $push:block) => {{
        for chunk in $rows.chunks((MAX_BINDS / $cols).max(1)) {
            let mut qb = sqlx::QueryBuilder::<$D>::new($head);
            qb.push_values(chunk.iter(), |mut $b, $r| $push);
            qb.push($tail);
            qb.build().execute(&mut *$tx).await?;
        }
    }};
}

/// [`insert_rows!`] with a `RETURNING` tail: the rows returned, as `$T`.
macro_rules! insert_returning {
    ($tx:ident, $D:ident, $T:ty, $head:expr, $tail:expr, $rows:expr, $cols:expr, |$b:ident, $r:ident| $push:block) => {{
        let mut out: Vec<$T> = Vec::new();
        for chunk in $rows.chunks((MAX_BINDS / $cols).max(1)) {
            let mut qb = sqlx::QueryBuilder::<$D>::new($head);
            qb.push_values(chunk.iter(), |mut $b, $r| $push);
            qb.push($tail);
            out.extend(qb.build_query_as::<$T>().fetch_all(&mut *$tx).await?);
        }
        out
    }};
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

/// An account checked and ready to write: holds carry their account and id, and the hash
/// of the record tells an identical re-load apart.
struct Prepared {
    index: usize,
    acct: Account,
    hash: String,
}

/// Validates one record the way [`Store::upsert_account`] does and hashes it.
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
    Ok(Prepared {
        index,
        hash: content_hash(&acct),
        acct,
    })
}

/// SHA-256 (hex) of the record's JSON: equal records, equal hashes.
pub(super) fn content_hash(acct: &Account) -> String {
    let mut h = Sha256::new();
    h.update(json(acct).as_bytes());
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
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
    /// group with multi-row statements, then the opening balances of their debts posted in
    /// one money-event import. Results are in the order given. A group the database refuses
    /// as a whole is written again record by record through [`Store::upsert_account`], so a
    /// record only the database can fault is reported alone.
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
                    let accts: Vec<&Account> = group.iter().map(|p| &p.acct).collect();
                    let openings = self.post_openings(&accts, actor).await;
                    for (p, o) in group.iter().zip(outcomes) {
                        results[p.index] = Some(Ok(o));
                    }
                    if let Err(e) = openings {
                        // One refused opening refuses the import: find whose, one by one.
                        tracing::warn!(error = %e, "batch openings refused; posting per account");
                        for p in &group {
                            if let Err(e) = self.post_openings(&[&p.acct], actor).await {
                                results[p.index] = Some(Err(e));
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, records = group.len(), "batch upsert failed; writing record by record");
                    for p in group {
                        let i = p.index;
                        results[i] = Some(self.upsert_account(p.acct, actor).await);
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::Corrupt("record not applied".into()))))
            .collect()
    }

    /// Writes one group (no id twice, see [`groups`]) in one transaction: unchanged records
    /// (same hash) are skipped, changed ones replace their rows, every written account gets a
    /// change-feed row and an audit row, and every new hold its own.
    async fn upsert_group(&self, group: &[Prepared], actor: &str) -> Result<Vec<UpsertOutcome>> {
        let now = us(Timestamp::now());
        let ids: Vec<String> = group.iter().map(|p| p.acct.account_id.clone()).collect();
        let (outcomes, max_seq) = write_tx!(self.db, tx, D => {
            // The change lock first: the whole batch is one writer of the feed and of
            // debt_activity (one lock order with outcome ingest).
            sqlx::query(<D as Driver>::WRITER_LOCK)
                .bind(CHANGES_LOCK)
                .execute(&mut *tx)
                .await?;
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
            let changed: Vec<&Prepared> = group
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| **o != UpsertOutcome::Unchanged)
                .map(|(p, _)| p)
                .collect();
            if changed.is_empty() {
                tx.commit().await?;
                return Ok(outcomes);
            }
            let updated: Vec<String> = changed
                .iter()
                .filter(|p| existing.contains_key(&p.acct.account_id))
                .map(|p| p.acct.account_id.clone())
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
                for q in [
                    sql!(D, "DELETE FROM phones WHERE account_id " in_list(1)),
                    sql!(D, "DELETE FROM addresses WHERE account_id " in_list(1)),
                    sql!(D, "DELETE FROM persons WHERE account_id " in_list(1)),
                    sql!(D, "DELETE FROM debts WHERE account_id " in_list(1)),
                    sql!(D, "DELETE FROM blackouts WHERE account_id " in_list(1)),
                    sql!(D, "DELETE FROM call_consents WHERE account_id " in_list(1)),
                ] {
                    sqlx::query(q).bind(List(&updated)).execute(&mut *tx).await?;
                }
            }
            insert_rows!(tx, D,
                "INSERT INTO accounts (account_id, creditor, known_zone, content_hash, created_at, updated_at) ",
                " ON CONFLICT (account_id) DO UPDATE SET creditor = excluded.creditor, \
                 known_zone = excluded.known_zone, content_hash = excluded.content_hash, \
                 updated_at = excluded.updated_at",
                changed, 6, |b, p| {
                    b.push_bind(&p.acct.account_id)
                        .push_bind(&p.acct.creditor)
                        .push_bind(&p.acct.known_zone)
                        .push_bind(&p.hash)
                        .push_bind(now)
                        .push_bind(now);
                });
            let persons: Vec<(&str, &Person, i32)> = changed
                .iter()
                .flat_map(|p| {
                    p.acct.persons.iter().enumerate()
                        .map(|(i, x)| (p.acct.account_id.as_str(), x, i as i32))
                })
                .collect();
            insert_rows!(tx, D,
                "INSERT INTO persons (account_id, person_id, ord, full_name, role) ", "",
                persons, 5, |b, r| {
                    b.push_bind(r.0)
                        .push_bind(&r.1.person_id)
                        .push_bind(r.2)
                        .push_bind(&r.1.full_name)
                        .push_bind(enum_name(&r.1.role));
                });
            let phones: Vec<(&str, &str, &Phone, i32, Option<i64>)> = persons
                .iter()
                .flat_map(|(a, person, _)| {
                    let revoked = &revoked;
                    person.phones.iter().enumerate().map(move |(j, ph)| {
                        let mut revoked_at = opt_us(ph.consent_revoked_at);
                        let key = ((*a).to_owned(), person.person_id.clone(), ph.number.clone());
                        if let Some(&r) = revoked.get(&key) {
                            let regranted = opt_us(ph.consent_at).is_some_and(|c| c > r);
                            if !regranted && revoked_at.is_none_or(|x| x < r) {
                                revoked_at = Some(r);
                            }
                        }
                        (*a, person.person_id.as_str(), ph, j as i32, revoked_at)
                    })
                })
                .collect();
            insert_rows!(tx, D,
                "INSERT INTO phones (account_id, person_id, number, ord, kind, consent_automated, \
                 consent_source, consent_at, consent_revoked_at, employer_prohibits) ", "",
                phones, 10, |b, r| {
                    b.push_bind(r.0)
                        .push_bind(r.1)
                        .push_bind(&r.2.number)
                        .push_bind(r.3)
                        .push_bind(enum_name(&r.2.kind))
                        .push_bind(r.2.consent_automated)
                        .push_bind(&r.2.consent_source)
                        .push_bind(opt_us(r.2.consent_at))
                        .push_bind(r.4)
                        .push_bind(r.2.employer_prohibits);
                });
            let addresses: Vec<(&str, &str, &Address, i32)> = persons
                .iter()
                .flat_map(|(a, person, _)| {
                    person.addresses.iter().enumerate()
                        .map(move |(j, ad)| (*a, person.person_id.as_str(), ad, j as i32))
                })
                .collect();
            insert_rows!(tx, D,
                "INSERT INTO addresses (account_id, person_id, ord, line1, city, zip, state, \
                 country, is_current) ", "",
                addresses, 9, |b, r| {
                    b.push_bind(r.0)
                        .push_bind(r.1)
                        .push_bind(r.3)
                        .push_bind(&r.2.line1)
                        .push_bind(&r.2.city)
                        .push_bind(&r.2.zip)
                        .push_bind(&r.2.state)
                        .push_bind(&r.2.country)
                        .push_bind(r.2.current);
                });
            let debts: Vec<(&str, &Debt, i32)> = changed
                .iter()
                .flat_map(|p| {
                    p.acct.debts.iter().enumerate()
                        .map(|(i, d)| (p.acct.account_id.as_str(), d, i as i32))
                })
                .collect();
            insert_rows!(tx, D,
                "INSERT INTO debts (debt_id, account_id, ord, balance_minor, currency, \
                 days_past_due, student_loan_group, original_creditor) ",
                " ON CONFLICT (debt_id) DO UPDATE SET account_id = excluded.account_id, \
                 ord = excluded.ord, balance_minor = excluded.balance_minor, \
                 currency = excluded.currency, days_past_due = excluded.days_past_due, \
                 student_loan_group = excluded.student_loan_group, \
                 original_creditor = excluded.original_creditor",
                debts, 8, |b, r| {
                    b.push_bind(&r.1.debt_id)
                        .push_bind(r.0)
                        .push_bind(r.2)
                        .push_bind(r.1.balance_minor)
                        .push_bind(&r.1.currency)
                        .push_bind(r.1.days_past_due)
                        .push_bind(&r.1.student_loan_group)
                        .push_bind(&r.1.original_creditor);
                });
            insert_rows!(tx, D,
                "INSERT INTO debt_activity (debt_id, account_id, last_activity_at, attempts, \
                 regf_attempts, conversations) ",
                " ON CONFLICT (debt_id) DO UPDATE SET account_id = excluded.account_id",
                debts, 6, |b, r| {
                    b.push_bind(&r.1.debt_id)
                        .push_bind(r.0)
                        .push_bind(now)
                        .push_bind(0i32)
                        .push_bind(0i32)
                        .push_bind(0i32);
                });
            let blackouts: Vec<(&str, &Blackout, i32)> = changed
                .iter()
                .flat_map(|p| {
                    p.acct.blackouts.iter().enumerate()
                        .map(|(i, x)| (p.acct.account_id.as_str(), x, i as i32))
                })
                .collect();
            insert_rows!(tx, D,
                "INSERT INTO blackouts (account_id, ord, days, from_time, to_time, since, until, \
                 number, place) ", "",
                blackouts, 9, |b, r| {
                    let days: Vec<String> = r.1.days.iter().map(enum_name).collect();
                    b.push_bind(r.0)
                        .push_bind(r.2)
                        .push_bind(days.join(","))
                        .push_bind(&r.1.from)
                        .push_bind(&r.1.to)
                        .push_bind(opt_us(r.1.since))
                        .push_bind(opt_us(r.1.until))
                        .push_bind(&r.1.number)
                        .push_bind(r.1.place.map(|p| enum_name(&p)).unwrap_or_default());
                });
            let consents: Vec<(&str, &CallConsent, i32)> = changed
                .iter()
                .flat_map(|p| {
                    p.acct.call_consents.iter().enumerate()
                        .map(|(i, x)| (p.acct.account_id.as_str(), x, i as i32))
                })
                .collect();
            insert_rows!(tx, D,
                "INSERT INTO call_consents (account_id, ord, debt_id, given_at, days, revoked_at) ",
                "",
                consents, 6, |b, r| {
                    b.push_bind(r.0)
                        .push_bind(r.2)
                        .push_bind(&r.1.debt_id)
                        .push_bind(us(r.1.given_at))
                        .push_bind(r.1.days as i32)
                        .push_bind(opt_us(r.1.revoked_at));
                });
            let holds: Vec<(&str, &Hold)> = changed
                .iter()
                .flat_map(|p| p.acct.holds.iter().map(|h| (p.acct.account_id.as_str(), h)))
                .collect();
            let inserted: Vec<(String,)> = insert_returning!(tx, D, (String,),
                "INSERT INTO holds (hold_id, account_id, kind, debt_id, number, since, until, \
                 set_by, reason, created_at, updated_at) ",
                " ON CONFLICT (hold_id) DO NOTHING RETURNING hold_id",
                holds, 11, |b, r| {
                    b.push_bind(&r.1.hold_id)
                        .push_bind(r.0)
                        .push_bind(enum_name(&r.1.kind))
                        .push_bind(&r.1.debt_id)
                        .push_bind(&r.1.number)
                        .push_bind(us(r.1.since))
                        .push_bind(opt_us(r.1.until))
                        .push_bind(if r.1.set_by.is_empty() { actor } else { r.1.set_by.as_str() })
                        .push_bind(&r.1.reason)
                        .push_bind(now)
                        .push_bind(now);
                });
            let inserted: HashSet<String> = inserted.into_iter().map(|(h,)| h).collect();
            // The feed and the audit log: per account a change (no payload) and the record;
            // per new hold a change and an audit row with the hold as JSON.
            let account_kind = enum_name(&ChangeKind::Account);
            let hold_kind = enum_name(&ChangeKind::Hold);
            let mut feed: Vec<(&str, &str, &str, Option<String>)> = Vec::new();
            let mut audits: Vec<(&str, &str, &str, &str, String)> = Vec::new();
            for p in &changed {
                let id = p.acct.account_id.as_str();
                feed.push((account_kind.as_str(), id, id, None));
                audits.push(("upsert_account", "account", id, id, json(&p.acct)));
            }
            for &(a, h) in holds.iter().filter(|(_, h)| inserted.contains(&h.hold_id)) {
                let value = json(h);
                feed.push((hold_kind.as_str(), a, h.hold_id.as_str(), Some(value.clone())));
                audits.push(("set_hold", "hold", h.hold_id.as_str(), a, value));
            }
            let seqs: Vec<(i64,)> = insert_returning!(tx, D, (i64,),
                "INSERT INTO changes (kind, account_id, event_id, ref_id, payload, recorded_at) ",
                " RETURNING seq",
                feed, 6, |b, r| {
                    b.push_bind(r.0)
                        .push_bind(r.1)
                        .push_bind(None::<i64>)
                        .push_bind(r.2)
                        .push_bind(&r.3)
                        .push_bind(now);
                });
            insert_rows!(tx, D,
                "INSERT INTO audit_log (at, actor, action, entity_kind, entity_id, account_id, detail) ",
                "",
                audits, 7, |b, r| {
                    b.push_bind(now)
                        .push_bind(actor)
                        .push_bind(r.0)
                        .push_bind(r.1)
                        .push_bind(r.2)
                        .push_bind(r.3)
                        .push_bind(&r.4);
                });
            tx.commit().await?;
            (outcomes, seqs.into_iter().map(|(s,)| s).max())
        });
        if let Some(s) = max_seq {
            self.bump(s);
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
