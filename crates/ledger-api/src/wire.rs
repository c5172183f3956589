//! The ledger's protobuf messages <-> its domain types, both ways, for the ledger's gRPC edge
//! and for its clients (the dialer's ledger link and outbox, tests, tools). Messages coming in
//! are checked (`*_in`: a bad field is a [`ValidationError`] naming it); messages the ledger
//! sent back are read with `*_from_pb`, which keeps the ledger-set fields and skips the
//! content rules that apply to new records only.

use jiff::Timestamp;

use crate::common::{
    dial_mode_from, dial_mode_to, enum_map, outcome_from, outcome_to, phone_kind_from,
    phone_kind_to,
};
use crate::domain::{self, *};
use crate::pb;

type VResult<T> = Result<T, ValidationError>;

/// Protobuf timestamp to an instant, truncated to microseconds (the store's precision).
pub fn ts_from(t: &prost_types::Timestamp, field: &str) -> VResult<Timestamp> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(ValidationError::new(field, "nanos out of range"));
    }
    let us = t
        .seconds
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(i64::from(t.nanos / 1000)))
        .ok_or_else(|| ValidationError::new(field, "out of range"))?;
    Timestamp::from_microsecond(us).map_err(|_| ValidationError::new(field, "out of range"))
}

pub fn opt_ts_from(t: &Option<prost_types::Timestamp>, field: &str) -> VResult<Option<Timestamp>> {
    t.as_ref().map(|t| ts_from(t, field)).transpose()
}

pub fn req_ts_from(t: &Option<prost_types::Timestamp>, field: &str) -> VResult<Timestamp> {
    opt_ts_from(t, field)?.ok_or_else(|| ValidationError::new(field, "is required"))
}

pub fn ts_to(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

pub fn opt_ts_to(t: Option<Timestamp>) -> Option<prost_types::Timestamp> {
    t.map(ts_to)
}

enum_map!(direction_from, direction_to, pb::Direction, Direction, {
    Outbound => Direction::Outbound, Inbound => Direction::Inbound,
});
enum_map!(channel_from, channel_to, pb::Channel, Channel, {
    Call => Channel::Call, Text => Channel::Text, Email => Channel::Email,
});
enum_map!(party_from, party_to, pb::Party, Party, {
    Consumer => Party::Consumer, Attorney => Party::Attorney, ThirdParty => Party::ThirdParty,
    Nobody => Party::Nobody, Machine => Party::Machine, Unidentified => Party::Unidentified,
});
enum_map!(amd_from, amd_to, pb::AmdVerdict, AmdVerdict, {
    NotRun => AmdVerdict::NotRun, Human => AmdVerdict::Human, Machine => AmdVerdict::Machine,
    NotSure => AmdVerdict::NotSure,
});
enum_map!(hold_kind_from, hold_kind_to, pb::HoldKind, HoldKind, {
    Cease => HoldKind::Cease, Attorney => HoldKind::Attorney, MediumOptout => HoldKind::MediumOptout,
    NumberOptout => HoldKind::NumberOptout, WrongNumber => HoldKind::WrongNumber,
    Dispute => HoldKind::Dispute, Bankruptcy => HoldKind::Bankruptcy, Deceased => HoldKind::Deceased,
});
enum_map!(role_from, role_to, pb::PersonRole, PersonRole, {
    Primary => PersonRole::Primary, CoSigner => PersonRole::CoSigner,
    AuthorizedThirdParty => PersonRole::AuthorizedThirdParty, Attorney => PersonRole::Attorney,
});
enum_map!(day_from, day_to, pb::Weekday, Day, {
    Mon => Day::Mon, Tue => Day::Tue, Wed => Day::Wed, Thu => Day::Thu, Fri => Day::Fri,
    Sat => Day::Sat, Sun => Day::Sun,
});
enum_map!(place_from, place_to, pb::Place, Place, {
    Home => Place::Home, Work => Place::Work,
});
enum_map!(promise_status_from, promise_status_to, pb::PromiseStatus, PromiseStatus, {
    Pending => PromiseStatus::Pending, Kept => PromiseStatus::Kept, Broken => PromiseStatus::Broken,
    Cancelled => PromiseStatus::Cancelled,
});

/// A reported outcome; unspecified optional enums take their defaults (outbound call to the
/// consumer, AMD not run); the outcome itself is required.
pub fn outcome_in(o: pb::ContactOutcome) -> VResult<ContactOutcome> {
    let out = outcome_map(o)?;
    out.validate()?;
    Ok(out)
}

/// An outcome as the ledger returned it (history, ListOutcomes, the change feed): the same
/// mapping as [`outcome_in`] but keeping the ledger-set fields (`counts_for_regf`, `event_id`,
/// `recorded_at`) and without the content rules, which apply to new outcomes only (a rule
/// tightened later must not make recorded history unreadable).
pub fn outcome_from_pb(o: pb::ContactOutcome) -> VResult<ContactOutcome> {
    let counts_for_regf = o.counts_for_regf;
    let event_id = o.event_id;
    let recorded_at = opt_ts_from(&o.recorded_at, "recorded_at")?;
    let mut out = outcome_map(o)?;
    out.counts_for_regf = counts_for_regf;
    out.event_id = event_id;
    out.recorded_at = recorded_at;
    Ok(out)
}

/// Field mapping of an outcome; read-only fields are left at their defaults.
fn outcome_map(o: pb::ContactOutcome) -> VResult<ContactOutcome> {
    Ok(ContactOutcome {
        outcome: outcome_from(o.outcome, "outcome")?
            .ok_or_else(|| ValidationError::new("outcome", "is required"))?,
        direction: direction_from(o.direction, "direction")?.unwrap_or(Direction::Outbound),
        channel: channel_from(o.channel, "channel")?.unwrap_or(Channel::Call),
        dial_mode: dial_mode_from(o.dial_mode, "dial_mode")?,
        party: party_from(o.party, "party")?.unwrap_or(Party::Consumer),
        amd: amd_from(o.amd, "amd")?.unwrap_or(AmdVerdict::NotRun),
        started_at: req_ts_from(&o.started_at, "started_at")?,
        idempotency_key: o.idempotency_key,
        account_id: o.account_id,
        person_id: o.person_id,
        debt_ids: o.debt_ids,
        number: o.number,
        third_party_id: o.third_party_id,
        campaign_id: o.campaign_id,
        agent_id: o.agent_id,
        ring_ms: o.ring_ms,
        talk_ms: o.talk_ms,
        recording_ref: o.recording_ref,
        disposition: o.disposition,
        counts_for_regf: false,
        event_id: 0,
        recorded_at: None,
        checked_seq: o.checked_seq,
    })
}

pub fn outcome_out(o: ContactOutcome) -> pb::ContactOutcome {
    pb::ContactOutcome {
        idempotency_key: o.idempotency_key,
        account_id: o.account_id,
        person_id: o.person_id,
        debt_ids: o.debt_ids,
        number: o.number,
        direction: direction_to(o.direction),
        channel: channel_to(o.channel),
        dial_mode: o.dial_mode.map_or(0, dial_mode_to),
        outcome: outcome_to(o.outcome),
        party: party_to(o.party),
        third_party_id: o.third_party_id,
        campaign_id: o.campaign_id,
        agent_id: o.agent_id,
        started_at: Some(ts_to(o.started_at)),
        ring_ms: o.ring_ms,
        talk_ms: o.talk_ms,
        amd: amd_to(o.amd),
        recording_ref: o.recording_ref,
        disposition: o.disposition,
        counts_for_regf: o.counts_for_regf,
        event_id: o.event_id,
        recorded_at: opt_ts_to(o.recorded_at),
        checked_seq: o.checked_seq,
    }
}

pub fn hold_in(h: pb::Hold, f: &str) -> VResult<Hold> {
    Ok(Hold {
        kind: hold_kind_from(h.kind, &format!("{f}.kind"))?
            .ok_or_else(|| ValidationError::new(format!("{f}.kind"), "is required"))?,
        since: req_ts_from(&h.since, &format!("{f}.since"))?,
        until: opt_ts_from(&h.until, &format!("{f}.until"))?,
        hold_id: h.hold_id,
        account_id: h.account_id,
        debt_id: h.debt_id,
        number: h.number,
        set_by: h.set_by,
        reason: h.reason,
    })
}

pub fn hold_out(h: Hold) -> pb::Hold {
    pb::Hold {
        hold_id: h.hold_id,
        account_id: h.account_id,
        kind: hold_kind_to(h.kind),
        debt_id: h.debt_id,
        number: h.number,
        since: Some(ts_to(h.since)),
        until: opt_ts_to(h.until),
        set_by: h.set_by,
        reason: h.reason,
    }
}

pub fn phone_in(p: pb::Phone, f: &str) -> VResult<Phone> {
    Ok(Phone {
        kind: phone_kind_from(p.kind, &format!("{f}.kind"))?.unwrap_or(PhoneKind::Unknown),
        consent_at: opt_ts_from(&p.consent_at, &format!("{f}.consent_at"))?,
        consent_revoked_at: opt_ts_from(&p.consent_revoked_at, &format!("{f}.consent_revoked_at"))?,
        number: p.number,
        consent_automated: p.consent_automated,
        consent_source: p.consent_source,
        employer_prohibits: p.employer_prohibits,
    })
}

pub fn phone_out(p: Phone) -> pb::Phone {
    pb::Phone {
        number: p.number,
        kind: phone_kind_to(p.kind),
        consent_automated: p.consent_automated,
        consent_source: p.consent_source,
        consent_at: opt_ts_to(p.consent_at),
        consent_revoked_at: opt_ts_to(p.consent_revoked_at),
        employer_prohibits: p.employer_prohibits,
    }
}

pub fn person_out(p: Person) -> pb::Person {
    pb::Person {
        person_id: p.person_id,
        full_name: p.full_name,
        role: role_to(p.role),
        phones: p.phones.into_iter().map(phone_out).collect(),
        addresses: p
            .addresses
            .into_iter()
            .map(|a| pb::Address {
                line1: a.line1,
                city: a.city,
                zip: a.zip,
                state: a.state,
                country: a.country,
                current: a.current,
            })
            .collect(),
    }
}

pub fn debt_out(d: Debt) -> pb::Debt {
    pb::Debt {
        debt_id: d.debt_id,
        balance_minor: d.balance_minor,
        currency: d.currency,
        days_past_due: d.days_past_due,
        student_loan_group: d.student_loan_group,
        original_creditor: d.original_creditor,
        last_activity_at: opt_ts_to(d.last_activity_at),
        receivables: d.receivables.map(receivables_out),
    }
}

fn date_to(d: Option<jiff::civil::Date>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn date_from(s: &str, field: &str) -> VResult<Option<jiff::civil::Date>> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| ValidationError::new(field, "is not a date (YYYY-MM-DD)"))
}

pub fn receivables_out(r: DebtReceivables) -> pb::DebtReceivables {
    pb::DebtReceivables {
        as_of: date_to(r.as_of),
        open_minor: r.open_minor,
        credit_balance_minor: r.credit_balance_minor,
        past_due_minor: r.past_due_minor,
        oldest_days_past_due: r.oldest_days_past_due,
        oldest_bucket: r.oldest_bucket,
        promise_status: r.promise_status,
        promise_amount_minor: r.promise_amount_minor,
        promise_due: date_to(r.promise_due),
        promise_grace_days: r.promise_grace_days,
        plan_status: r.plan_status,
        in_dispute: r.in_dispute,
        settled: r.settled,
        last_payment_date: date_to(r.last_payment_date),
        last_payment_minor: r.last_payment_minor,
    }
}

/// A debt's receivables summary as the ledger returned it; `field` names the debt.
pub fn receivables_from_pb(r: pb::DebtReceivables, field: &str) -> VResult<DebtReceivables> {
    Ok(DebtReceivables {
        as_of: date_from(&r.as_of, &format!("{field}.as_of"))?,
        open_minor: r.open_minor,
        credit_balance_minor: r.credit_balance_minor,
        past_due_minor: r.past_due_minor,
        oldest_days_past_due: r.oldest_days_past_due,
        oldest_bucket: r.oldest_bucket,
        promise_status: r.promise_status,
        promise_amount_minor: r.promise_amount_minor,
        promise_due: date_from(&r.promise_due, &format!("{field}.promise_due"))?,
        promise_grace_days: r.promise_grace_days,
        plan_status: r.plan_status,
        in_dispute: r.in_dispute,
        settled: r.settled,
        last_payment_date: date_from(&r.last_payment_date, &format!("{field}.last_payment_date"))?,
        last_payment_minor: r.last_payment_minor,
    })
}

pub fn blackout_out(b: Blackout) -> pb::Blackout {
    pb::Blackout {
        days: b.days.into_iter().map(day_to).collect(),
        from: b.from,
        to: b.to,
        since: opt_ts_to(b.since),
        until: opt_ts_to(b.until),
        number: b.number,
        place: b.place.map_or(0, place_to),
    }
}

pub fn call_consent_out(c: CallConsent) -> pb::CallConsent {
    pb::CallConsent {
        debt_id: c.debt_id,
        given_at: Some(ts_to(c.given_at)),
        days: c.days,
        revoked_at: opt_ts_to(c.revoked_at),
    }
}

/// A CRM record; field paths in errors start at `account`.
pub fn account_in(a: pb::Account) -> VResult<Account> {
    let mut persons = Vec::with_capacity(a.persons.len());
    for (i, p) in a.persons.into_iter().enumerate() {
        let f = format!("account.persons[{i}]");
        let mut phones = Vec::with_capacity(p.phones.len());
        for (j, ph) in p.phones.into_iter().enumerate() {
            phones.push(phone_in(ph, &format!("{f}.phones[{j}]"))?);
        }
        persons.push(Person {
            role: role_from(p.role, &format!("{f}.role"))?.unwrap_or(PersonRole::Primary),
            person_id: p.person_id,
            full_name: p.full_name,
            phones,
            addresses: p
                .addresses
                .into_iter()
                .map(|a| domain::Address {
                    line1: a.line1,
                    city: a.city,
                    zip: a.zip,
                    state: a.state,
                    country: a.country,
                    current: a.current,
                })
                .collect(),
        });
    }
    let mut holds = Vec::with_capacity(a.holds.len());
    for (i, h) in a.holds.into_iter().enumerate() {
        holds.push(hold_in(h, &format!("account.holds[{i}]"))?);
    }
    let mut blackouts = Vec::with_capacity(a.blackouts.len());
    for (i, b) in a.blackouts.into_iter().enumerate() {
        let f = format!("account.blackouts[{i}]");
        let mut days = Vec::new();
        for (j, d) in b.days.iter().enumerate() {
            days.push(
                day_from(*d, &format!("{f}.days[{j}]"))?.ok_or_else(|| {
                    ValidationError::new(format!("{f}.days[{j}]"), "is unspecified")
                })?,
            );
        }
        blackouts.push(Blackout {
            days,
            since: opt_ts_from(&b.since, &format!("{f}.since"))?,
            until: opt_ts_from(&b.until, &format!("{f}.until"))?,
            place: place_from(b.place, &format!("{f}.place"))?,
            from: b.from,
            to: b.to,
            number: b.number,
        });
    }
    let mut call_consents = Vec::with_capacity(a.call_consents.len());
    for (i, c) in a.call_consents.into_iter().enumerate() {
        let f = format!("account.call_consents[{i}]");
        call_consents.push(CallConsent {
            given_at: req_ts_from(&c.given_at, &format!("{f}.given_at"))?,
            revoked_at: opt_ts_from(&c.revoked_at, &format!("{f}.revoked_at"))?,
            debt_id: c.debt_id,
            days: c.days,
        });
    }
    Ok(Account {
        account_id: a.account_id,
        creditor: a.creditor,
        known_zone: a.known_zone,
        persons,
        debts: a
            .debts
            .into_iter()
            .map(|d| Debt {
                debt_id: d.debt_id,
                balance_minor: d.balance_minor,
                currency: d.currency,
                days_past_due: d.days_past_due,
                student_loan_group: d.student_loan_group,
                original_creditor: d.original_creditor,
                last_activity_at: None,
                receivables: None,
            })
            .collect(),
        holds,
        blackouts,
        call_consents,
        updated_at: None,
    })
}

/// An account as the ledger returned it (GetAccount): [`account_in`] plus the read-only
/// fields (`updated_at`, each debt's `last_activity_at` and `receivables`).
pub fn account_from_pb(mut a: pb::Account) -> VResult<Account> {
    let updated_at = opt_ts_from(&a.updated_at, "account.updated_at")?;
    let mut read_only = Vec::with_capacity(a.debts.len());
    for (i, d) in a.debts.iter_mut().enumerate() {
        let at = opt_ts_from(
            &d.last_activity_at,
            &format!("account.debts[{i}].last_activity_at"),
        )?;
        let r = d
            .receivables
            .take()
            .map(|r| receivables_from_pb(r, &format!("account.debts[{i}].receivables")))
            .transpose()?;
        read_only.push((at, r));
    }
    let mut acct = account_in(a)?;
    acct.updated_at = updated_at;
    for (d, (at, r)) in acct.debts.iter_mut().zip(read_only) {
        d.last_activity_at = at;
        d.receivables = r;
    }
    Ok(acct)
}

pub fn account_out(a: Account) -> pb::Account {
    pb::Account {
        account_id: a.account_id,
        creditor: a.creditor,
        known_zone: a.known_zone,
        persons: a.persons.into_iter().map(person_out).collect(),
        debts: a.debts.into_iter().map(debt_out).collect(),
        holds: a.holds.into_iter().map(hold_out).collect(),
        blackouts: a.blackouts.into_iter().map(blackout_out).collect(),
        call_consents: a.call_consents.into_iter().map(call_consent_out).collect(),
        updated_at: opt_ts_to(a.updated_at),
    }
}

pub fn promise_in(p: pb::Promise) -> VResult<Promise> {
    Ok(Promise {
        status: promise_status_from(p.status, "promise.status")?.unwrap_or(PromiseStatus::Pending),
        promise_id: p.promise_id,
        account_id: p.account_id,
        debt_id: p.debt_id,
        amount_minor: p.amount_minor,
        currency: p.currency,
        due_date: p.due_date,
        outcome_key: p.outcome_key,
        set_by: p.set_by,
        created_at: None,
        updated_at: None,
    })
}

/// A promise as the ledger returned it: [`promise_in`] plus `created_at` and `updated_at`.
pub fn promise_from_pb(p: pb::Promise) -> VResult<Promise> {
    let created_at = opt_ts_from(&p.created_at, "promise.created_at")?;
    let updated_at = opt_ts_from(&p.updated_at, "promise.updated_at")?;
    let mut out = promise_in(p)?;
    out.created_at = created_at;
    out.updated_at = updated_at;
    Ok(out)
}

pub fn promise_out(p: Promise) -> pb::Promise {
    pb::Promise {
        promise_id: p.promise_id,
        account_id: p.account_id,
        debt_id: p.debt_id,
        amount_minor: p.amount_minor,
        currency: p.currency,
        due_date: p.due_date,
        status: promise_status_to(p.status),
        outcome_key: p.outcome_key,
        set_by: p.set_by,
        created_at: opt_ts_to(p.created_at),
        updated_at: opt_ts_to(p.updated_at),
    }
}

/// A change-feed entry as WatchChanges delivers it, back to the domain type (for clients of
/// the feed, e.g. the dialer's ledger link). The payload must match the kind.
pub fn change_from_pb(c: pb::Change) -> VResult<Change> {
    use pb::change::Payload;
    let kind = change_kind_from(c.kind, "change.kind")?;
    let payload = match (kind, c.payload) {
        (ChangeKind::Outcome, Some(Payload::Outcome(o))) => {
            ChangePayload::Outcome(Box::new(outcome_from_pb(o)?))
        }
        (ChangeKind::Hold, Some(Payload::Hold(h))) => {
            ChangePayload::Hold(hold_in(h, "change.hold")?)
        }
        (ChangeKind::Consent, Some(Payload::Consent(cc))) => {
            let phone = cc
                .phone
                .ok_or_else(|| ValidationError::new("change.consent.phone", "is required"))?;
            ChangePayload::Consent(ConsentChange {
                account_id: cc.account_id,
                person_id: cc.person_id,
                phone: phone_in(phone, "change.consent.phone")?,
                set_by: cc.set_by,
            })
        }
        (ChangeKind::Promise, Some(Payload::Promise(p))) => {
            ChangePayload::Promise(promise_from_pb(p)?)
        }
        (ChangeKind::Account, Some(Payload::AccountChanged(id))) => ChangePayload::Account(id),
        (ChangeKind::Receivables, Some(Payload::Receivables(m))) => {
            ChangePayload::Receivables(MoneyEventChange {
                debt_id: m.debt_id,
                event_id: m.event_id,
                event_type: m.event_type,
                event_date: m.event_date,
                amount_minor: m.amount_minor,
            })
        }
        (_, None) => return Err(ValidationError::new("change.payload", "is required")),
        (_, Some(_)) => {
            return Err(ValidationError::new(
                "change.payload",
                "does not match the change kind",
            ));
        }
    };
    Ok(Change {
        seq: c.seq,
        kind,
        account_id: c.account_id,
        recorded_at: req_ts_from(&c.recorded_at, "change.recorded_at")?,
        payload,
    })
}

fn change_kind_to(k: ChangeKind) -> i32 {
    (match k {
        ChangeKind::Outcome => pb::ChangeKind::Outcome,
        ChangeKind::Hold => pb::ChangeKind::Hold,
        ChangeKind::Consent => pb::ChangeKind::Consent,
        ChangeKind::Promise => pb::ChangeKind::Promise,
        ChangeKind::Account => pb::ChangeKind::Account,
        ChangeKind::Receivables => pb::ChangeKind::Receivables,
    }) as i32
}

fn change_kind_from(k: i32, f: &str) -> VResult<ChangeKind> {
    match pb::ChangeKind::try_from(k) {
        Ok(pb::ChangeKind::Outcome) => Ok(ChangeKind::Outcome),
        Ok(pb::ChangeKind::Hold) => Ok(ChangeKind::Hold),
        Ok(pb::ChangeKind::Consent) => Ok(ChangeKind::Consent),
        Ok(pb::ChangeKind::Promise) => Ok(ChangeKind::Promise),
        Ok(pb::ChangeKind::Account) => Ok(ChangeKind::Account),
        Ok(pb::ChangeKind::Receivables) => Ok(ChangeKind::Receivables),
        Ok(pb::ChangeKind::Unspecified) => Err(ValidationError::new(f, "is required")),
        Err(_) => Err(ValidationError::new(f, format!("unknown enum value {k}"))),
    }
}

/// A consent change from the wire (SetConsent).
pub fn consent_update_in(r: pb::SetConsentRequest) -> VResult<ConsentUpdate> {
    Ok(ConsentUpdate {
        at: req_ts_from(&r.at, "at")?,
        account_id: r.account_id,
        person_id: r.person_id,
        number: r.number,
        consent: r.consent,
        source: r.source,
        set_by: r.set_by,
    })
}

/// A consent change to the wire (for clients such as the dialer's outbox).
pub fn consent_update_out(c: ConsentUpdate) -> pb::SetConsentRequest {
    pb::SetConsentRequest {
        account_id: c.account_id,
        person_id: c.person_id,
        number: c.number,
        consent: c.consent,
        source: c.source,
        at: Some(ts_to(c.at)),
        set_by: c.set_by,
        fence: None,
    }
}

/// A pre-dial check's answer to the wire.
pub fn check_out(c: AccountCheck) -> pb::CheckAccountsResponse {
    pb::CheckAccountsResponse {
        as_of_seq: c.as_of_seq,
        changes: c
            .changes
            .into_iter()
            .map(|r| pb::ChangeRef {
                seq: r.seq,
                kind: change_kind_to(r.kind),
                account_id: r.account_id,
                ref_id: r.ref_id,
            })
            .collect(),
    }
}

/// A pre-dial check's answer back to the domain (for the dialer).
pub fn check_from_pb(c: pb::CheckAccountsResponse) -> VResult<AccountCheck> {
    let changes = c
        .changes
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(ChangeRef {
                kind: change_kind_from(r.kind, &format!("changes[{i}].kind"))?,
                seq: r.seq,
                account_id: r.account_id,
                ref_id: r.ref_id,
            })
        })
        .collect::<VResult<_>>()?;
    Ok(AccountCheck {
        as_of_seq: c.as_of_seq,
        changes,
    })
}

pub fn change_out(c: Change) -> pb::Change {
    use pb::change::Payload;
    let (kind, payload) = match c.payload {
        ChangePayload::Outcome(o) => (pb::ChangeKind::Outcome, Payload::Outcome(outcome_out(*o))),
        ChangePayload::Hold(h) => (pb::ChangeKind::Hold, Payload::Hold(hold_out(h))),
        ChangePayload::Consent(c) => (
            pb::ChangeKind::Consent,
            Payload::Consent(pb::ConsentChange {
                account_id: c.account_id,
                person_id: c.person_id,
                phone: Some(phone_out(c.phone)),
                set_by: c.set_by,
            }),
        ),
        ChangePayload::Promise(p) => (pb::ChangeKind::Promise, Payload::Promise(promise_out(p))),
        ChangePayload::Account(id) => (pb::ChangeKind::Account, Payload::AccountChanged(id)),
        ChangePayload::Receivables(m) => (
            pb::ChangeKind::Receivables,
            Payload::Receivables(pb::MoneyEventChange {
                debt_id: m.debt_id,
                event_id: m.event_id,
                event_type: m.event_type,
                event_date: m.event_date,
                amount_minor: m.amount_minor,
            }),
        ),
    };
    pb::Change {
        seq: c.seq,
        kind: kind as i32,
        account_id: c.account_id,
        recorded_at: Some(ts_to(c.recorded_at)),
        payload: Some(payload),
    }
}

/// A command's campaign fence from the wire (absent: not fenced).
pub fn fence_in(f: Option<pb::CampaignFence>) -> VResult<Option<Fence>> {
    let Some(f) = f else { return Ok(None) };
    let f = Fence {
        campaign_id: f.campaign_id,
        token: f.token,
    };
    f.validate()?;
    Ok(Some(f))
}

/// A campaign fence to the wire.
pub fn fence_out(f: Fence) -> pb::CampaignFence {
    pb::CampaignFence {
        campaign_id: f.campaign_id,
        token: f.token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_outcome() -> ContactOutcome {
        ContactOutcome {
            idempotency_key: "k1".into(),
            account_id: "A-1".into(),
            person_id: "p1".into(),
            debt_ids: vec!["A-1-d1".into()],
            number: "+14045550134".into(),
            direction: Direction::Outbound,
            channel: Channel::Call,
            dial_mode: Some(DialMode::Predictive),
            outcome: Outcome::Voicemail,
            party: Party::Consumer,
            third_party_id: String::new(),
            campaign_id: "c1".into(),
            agent_id: String::new(),
            started_at: Timestamp::from_second(1_767_625_200).unwrap(),
            ring_ms: 9_000,
            talk_ms: 0,
            amd: AmdVerdict::Machine,
            recording_ref: String::new(),
            disposition: String::new(),
            counts_for_regf: true,
            event_id: 42,
            recorded_at: Some(Timestamp::from_second(1_767_625_300).unwrap()),
            checked_seq: 7,
        }
    }

    #[test]
    fn recorded_outcomes_keep_ledger_fields() {
        let o = sample_outcome();
        assert_eq!(outcome_from_pb(outcome_out(o.clone())).unwrap(), o);
        // A new outcome never carries them in.
        let fresh = outcome_in(outcome_out(o)).unwrap();
        assert!(!fresh.counts_for_regf);
        assert_eq!((fresh.event_id, fresh.recorded_at), (0, None));
    }

    #[test]
    fn changes_round_trip_through_protobuf() {
        let at = Timestamp::from_second(1_767_625_400).unwrap();
        let phone = Phone {
            number: "+14045550134".into(),
            kind: PhoneKind::Mobile,
            consent_automated: true,
            consent_source: "form".into(),
            consent_at: Some(at),
            consent_revoked_at: Some(at),
            employer_prohibits: false,
        };
        let payloads = vec![
            ChangePayload::Outcome(Box::new(sample_outcome())),
            ChangePayload::Hold(Hold {
                hold_id: "h1".into(),
                account_id: "A-1".into(),
                kind: HoldKind::Cease,
                debt_id: String::new(),
                number: String::new(),
                since: at,
                until: None,
                set_by: "letter".into(),
                reason: "cease".into(),
            }),
            ChangePayload::Consent(ConsentChange {
                account_id: "A-1".into(),
                person_id: "p1".into(),
                phone,
                set_by: "agent".into(),
            }),
            ChangePayload::Promise(Promise {
                promise_id: "pr1".into(),
                account_id: "A-1".into(),
                debt_id: "A-1-d1".into(),
                amount_minor: 100,
                currency: "USD".into(),
                due_date: "2026-02-01".into(),
                status: PromiseStatus::Kept,
                outcome_key: "k1".into(),
                set_by: "agent".into(),
                created_at: Some(at),
                updated_at: Some(at),
            }),
            ChangePayload::Account("A-1".into()),
            ChangePayload::Receivables(MoneyEventChange {
                debt_id: "A-1-d1".into(),
                event_id: "pay-1".into(),
                event_type: "payment".into(),
                event_date: "2026-02-01".into(),
                amount_minor: 100,
            }),
        ];
        let kinds = [
            ChangeKind::Outcome,
            ChangeKind::Hold,
            ChangeKind::Consent,
            ChangeKind::Promise,
            ChangeKind::Account,
            ChangeKind::Receivables,
        ];
        for (i, (payload, kind)) in payloads.into_iter().zip(kinds).enumerate() {
            let c = Change {
                seq: i as i64 + 1,
                kind,
                account_id: "A-1".into(),
                recorded_at: at,
                payload,
            };
            assert_eq!(change_from_pb(change_out(c.clone())).unwrap(), c);
        }
        let mut bad = change_out(Change {
            seq: 9,
            kind: ChangeKind::Account,
            account_id: "A-1".into(),
            recorded_at: at,
            payload: ChangePayload::Account("A-1".into()),
        });
        bad.kind = pb::ChangeKind::Hold as i32;
        assert_eq!(
            change_from_pb(bad.clone()).unwrap_err().field,
            "change.payload"
        );
        bad.kind = 0;
        assert_eq!(change_from_pb(bad).unwrap_err().field, "change.kind");
    }

    #[test]
    fn timestamps_truncate_to_microseconds() {
        let t = prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        };
        let j = ts_from(&t, "at").unwrap();
        assert_eq!(ts_to(j).nanos, 123_456_000);
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(ts_from(&bad, "at").unwrap_err().field, "at");
    }
}
