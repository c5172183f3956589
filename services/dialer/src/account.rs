//! What the dialer knows about one account: the ledger's profile and recent contacts, in the
//! ledger's plain domain types, and the translation to what the compliance engine asks.
//!
//! The ledger is the system of record; the dialer keeps an [`AccountView`] per queued
//! account, fetched through [`AccountSource`] and refreshed when the ledger reports a change,
//! and appends its own outcomes to it at once so the next decision sees them.

use std::future::Future;

use compliance::CallRequest;
use compliance::clock::ClockTime;
use compliance::model::{self as cm, DialMode, PhoneKind};
use jiff::Timestamp;
use ledger_api::domain::{
    Account, AccountCheck, ContactOutcome, Person, PersonRole, Phone, Promise,
};

/// One account as the dialer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountView {
    pub account: Account,
    /// Contacts of the last 31 days or more (enough for every frequency rule), any order.
    pub contacts: Vec<ContactOutcome>,
    /// Promises to pay (for the screen pop).
    pub promises: Vec<Promise>,
    /// The system of record's change seq this view reflects at least (every change up to it
    /// is in the view); the pre-dial check asks for what came after. 0: none (a source that is
    /// its own truth).
    pub version: i64,
}

impl From<Account> for AccountView {
    /// An account with nothing known of it yet: no contacts, promises or change seq.
    fn from(account: Account) -> Self {
        AccountView {
            account,
            contacts: Vec::new(),
            promises: Vec::new(),
            version: 0,
        }
    }
}

/// A failure to load an account from the system of record. The dialer fails closed on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("account {0} not found")]
    NotFound(String),
    #[error("account source unavailable: {0}")]
    Unavailable(String),
}

/// Where account views come from (the ledger over gRPC in the service; a map in tests).
pub trait AccountSource: Send + Sync + 'static {
    fn load(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<AccountView, SourceError>> + Send;

    /// The pre-dial check: every change of these accounts after the given versions, up to
    /// the answer's `as_of_seq`. The engine asks just before it dials, so every hold or
    /// consent the system of record committed before the ask is seen. A source that is its
    /// own truth (a map) has nothing to report.
    fn check(
        &self,
        accounts: &[(String, i64)],
    ) -> impl Future<Output = Result<AccountCheck, SourceError>> + Send {
        let _ = accounts;
        async { Ok(AccountCheck::default()) }
    }
}

impl AccountView {
    /// The consumer: the first primary person, else the first person.
    pub fn consumer_person(&self) -> Option<&Person> {
        let persons = &self.account.persons;
        persons
            .iter()
            .find(|p| p.role == PersonRole::Primary)
            .or_else(|| persons.first())
    }

    /// The consumer's phones in campaign order (kinds earlier in `order` first; kinds not
    /// listed last), stable within a kind.
    pub fn phones_in_order(&self, order: &[PhoneKind]) -> Vec<&Phone> {
        let mut phones: Vec<&Phone> = self
            .consumer_person()
            .map(|p| p.phones.iter().collect())
            .unwrap_or_default();
        phones.sort_by_key(|p| {
            order
                .iter()
                .position(|k| *k == p.kind)
                .unwrap_or(order.len())
        });
        phones
    }

    /// Records a revocation of consent to automated calls on `number` (US-TCPA-05), as the
    /// ledger will once the revocation reaches it.
    pub fn revoke_consent(&mut self, number: &str, at: Timestamp) {
        for p in &mut self.account.persons {
            for ph in p.phones.iter_mut().filter(|ph| ph.number == number) {
                ph.consent_automated = false;
                ph.consent_revoked_at = Some(at);
            }
        }
    }

    /// What the receivables ledger says that ranking reads (debts without money events say
    /// nothing): the oldest aging bucket over the debts (0 current .. 5 for 121+ days), and
    /// when a promise that is pending or broken counts as broken (the day after its due date
    /// plus grace, 00:00 UTC; the latest such instant over the debts, so a pending promise on
    /// any debt defers the account).
    pub fn receivables_facts(&self) -> (Option<u8>, Option<i64>) {
        let summaries = self
            .account
            .debts
            .iter()
            .filter_map(|d| d.receivables.as_ref());
        let bucket = summaries
            .clone()
            .filter_map(|r| queue::rank::bucket_index(&r.oldest_bucket))
            .max();
        let broken_from = summaries
            .filter(|r| matches!(r.promise_status.as_str(), "pending" | "broken"))
            .filter_map(|r| r.promise_broken_from())
            .filter_map(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp().as_millisecond())
            .max();
        (bucket, broken_from)
    }

    /// Total balance in minor units over all debts.
    pub fn balance_minor(&self) -> i64 {
        self.account.debts.iter().map(|d| d.balance_minor).sum()
    }

    /// Ids of every debt on the account.
    pub fn debt_ids(&self) -> Vec<String> {
        self.account
            .debts
            .iter()
            .map(|d| d.debt_id.clone())
            .collect()
    }

    /// The question to put to the compliance engine for a call to `number` about `debt_ids`
    /// (the first is the primary debt) at `at`.
    pub fn call_request(
        &self,
        number: &str,
        debt_ids: &[String],
        at: Timestamp,
        mode: DialMode,
    ) -> CallRequest {
        let (primary, rest) = debt_ids.split_first().map_or_else(
            || (String::new(), Vec::new()),
            |(p, r)| (p.clone(), r.to_vec()),
        );
        CallRequest {
            at,
            mode,
            dial: cm::Dial {
                number: number.to_string(),
                debt_id: primary,
                debt_ids: rest,
                party: cm::Party::Consumer,
                third_party_id: None,
                agent_reserved: !mode.is_automated(),
            },
            consumer: self.consumer(),
            debts: self
                .account
                .debts
                .iter()
                .map(|d| cm::Debt {
                    id: d.debt_id.clone(),
                    student_loan_group: non_empty(&d.student_loan_group),
                })
                .collect(),
            history: self.contacts.iter().map(history_entry).collect(),
        }
    }

    /// The consumer as the compliance engine models them.
    pub fn consumer(&self) -> cm::Consumer {
        let a = &self.account;
        let person = self.consumer_person();
        cm::Consumer {
            phones: person
                .map(|p| {
                    p.phones
                        .iter()
                        .map(|ph| cm::Phone {
                            number: ph.number.clone(),
                            kind: ph.kind,
                            consent_automated: ph.consent_automated,
                            consent_revoked_at: ph.consent_revoked_at,
                            employer_prohibits: ph.employer_prohibits,
                            rnd: None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            addresses: person
                .map(|p| {
                    p.addresses
                        .iter()
                        .map(|ad| cm::Address {
                            zip: non_empty(&ad.zip),
                            state: non_empty(&ad.state),
                            country: non_empty(&ad.country),
                            current: ad.current,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            known_zone: non_empty(&a.known_zone),
            blackouts: a
                .blackouts
                .iter()
                .map(|b| cm::Blackout {
                    days: b.days.clone(),
                    from: clock_time(&b.from),
                    to: clock_time(&b.to),
                    since: b.since,
                    until: b.until,
                    number: non_empty(&b.number),
                    place: b.place,
                })
                .collect(),
            holds: a
                .holds
                .iter()
                .map(|h| cm::Hold {
                    kind: h.kind,
                    debt_id: non_empty(&h.debt_id),
                    number: non_empty(&h.number),
                    since: h.since,
                    until: h.until,
                })
                .collect(),
            consent_windows: Vec::new(),
            call_consents: a
                .call_consents
                .iter()
                .map(|c| cm::CallConsent {
                    debt_id: c.debt_id.clone(),
                    given_at: c.given_at,
                    days: u8::try_from(c.days).ok().filter(|d| *d > 0),
                    revoked_at: c.revoked_at,
                })
                .collect(),
        }
    }
}

/// One recorded contact as a compliance history entry.
pub fn history_entry(c: &ContactOutcome) -> cm::HistoryEntry {
    cm::HistoryEntry {
        at: c.started_at,
        direction: c.direction,
        number: non_empty(&c.number),
        debt_ids: c.debt_ids.clone(),
        outcome: c.outcome,
        channel: c.channel,
        mode: c.dial_mode,
        party: c.party.target(&c.third_party_id),
        third_party_id: non_empty(&c.third_party_id),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The ledger validated the `HH:MM` on the way in; an unreadable value means "whole day",
/// the wider (safer) reading of a blackout.
fn clock_time(s: &str) -> Option<ClockTime> {
    s.parse().ok()
}
