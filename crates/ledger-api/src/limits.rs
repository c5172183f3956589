//! Every bound the ledger puts on what it is sent, in one place, so the checks
//! ([`crate::domain`], [`crate::wire`], the ledger's gRPC edge), the proto comments and
//! docs/ledger.md name the same numbers (a test reads `ledger.proto` to keep it so). Strings
//! are bounded in UTF-8 bytes, repeated fields in entries; together they bound a record, and
//! [`collections_proto::MAX_MESSAGE_BYTES`] is sized so the largest record they allow fits
//! in one gRPC message ([`largest_account_bytes`] is checked against it): an account the
//! ledger accepted can always be read back, by the dialer too.

use std::time::Duration;

/// Ids: account, person, debt, hold, promise, idempotency key, campaign, agent, third party,
/// student-loan group, outcome key, `set_by`.
pub const ID_BYTES: usize = 128;
/// Names and address lines: full name, creditor, original creditor, address line, consent
/// source.
pub const NAME_BYTES: usize = 256;
/// City of an address.
pub const CITY_BYTES: usize = 128;
/// ZIP or postal code.
pub const ZIP_BYTES: usize = 16;
/// IANA zone name (`known_zone`).
pub const ZONE_BYTES: usize = 64;
/// Free text: a hold's reason.
pub const TEXT_BYTES: usize = 1000;
/// A recording reference.
pub const REF_BYTES: usize = 1024;
/// A disposition code.
pub const DISPOSITION_BYTES: usize = 64;
/// A page token.
pub const PAGE_TOKEN_BYTES: usize = 512;

/// Persons on an account.
pub const MAX_PERSONS: usize = 20;
/// Phones of a person.
pub const MAX_PHONES: usize = 20;
/// Addresses of a person.
pub const MAX_ADDRESSES: usize = 20;
/// Debts on an account; also debts one outcome may be about.
pub const MAX_DEBTS: usize = 100;
/// Holds carried by one account record.
pub const MAX_HOLDS: usize = 100;
/// Blackouts of an account.
pub const MAX_BLACKOUTS: usize = 50;
/// Call consents of an account.
pub const MAX_CALL_CONSENTS: usize = 100;
/// Outcomes in one `RecordOutcomesRequest` message (the stream may carry any number).
pub const MAX_OUTCOMES_PER_MESSAGE: usize = 1000;

/// Largest money amount in minor units (10^15: ten trillion dollars in cents), so sums over
/// an account's debts cannot overflow a 64-bit integer.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;
/// Largest days past due (100 years).
pub const MAX_DAYS_PAST_DUE: i32 = 36_525;
/// Largest ring or talk time of one contact: a day, in milliseconds.
pub const MAX_DURATION_MS: i64 = 86_400_000;

/// How far in the ledger's future an outcome's `started_at` may be by default (clock skew
/// between the dialer and the ledger); configurable as `max_future_skew_s`.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(300);

/// Encoded size of the largest `Account` the bounds allow, every string at its bound and
/// every list full (see the module documentation).
pub fn largest_account_bytes() -> usize {
    use collections_proto::ledger_v1 as pb;
    use prost::Message;
    let s = |n: usize| "x".repeat(n);
    let ts = || {
        Some(prost_types::Timestamp {
            seconds: i64::MAX / 2_000_000,
            nanos: 999_999_999,
        })
    };
    let number = "+123456789012345".to_string();
    let phone = pb::Phone {
        number: number.clone(),
        kind: i32::MAX,
        consent_automated: true,
        consent_source: s(NAME_BYTES),
        consent_at: ts(),
        consent_revoked_at: ts(),
        employer_prohibits: true,
    };
    let address = pb::Address {
        line1: s(NAME_BYTES),
        city: s(CITY_BYTES),
        zip: s(ZIP_BYTES),
        state: s(2),
        country: s(2),
        current: true,
    };
    let person = pb::Person {
        person_id: s(ID_BYTES),
        full_name: s(NAME_BYTES),
        role: i32::MAX,
        phones: vec![phone; MAX_PHONES],
        addresses: vec![address; MAX_ADDRESSES],
    };
    let debt = pb::Debt {
        debt_id: s(ID_BYTES),
        balance_minor: MAX_MINOR,
        currency: s(3),
        days_past_due: MAX_DAYS_PAST_DUE,
        student_loan_group: s(ID_BYTES),
        original_creditor: s(NAME_BYTES),
        last_activity_at: ts(),
        receivables: Some(pb::DebtReceivables {
            as_of: s(10),
            open_minor: MAX_MINOR,
            credit_balance_minor: MAX_MINOR,
            past_due_minor: MAX_MINOR,
            oldest_days_past_due: MAX_DAYS_PAST_DUE,
            oldest_bucket: s(8),
            promise_status: s(10),
            promise_amount_minor: MAX_MINOR,
            promise_due: s(10),
            promise_grace_days: 3650,
            plan_status: s(9),
            in_dispute: true,
            settled: true,
            last_payment_date: s(10),
            last_payment_minor: MAX_MINOR,
        }),
    };
    let hold = pb::Hold {
        hold_id: s(ID_BYTES),
        account_id: s(ID_BYTES),
        kind: i32::MAX,
        debt_id: s(ID_BYTES),
        number: number.clone(),
        since: ts(),
        until: ts(),
        set_by: s(ID_BYTES),
        reason: s(TEXT_BYTES),
    };
    let blackout = pb::Blackout {
        days: vec![i32::MAX; 7],
        from: s(5),
        to: s(5),
        since: ts(),
        until: ts(),
        number,
        place: i32::MAX,
    };
    let consent = pb::CallConsent {
        debt_id: s(ID_BYTES),
        given_at: ts(),
        days: u32::MAX,
        revoked_at: ts(),
    };
    pb::Account {
        account_id: s(ID_BYTES),
        creditor: s(NAME_BYTES),
        persons: vec![person; MAX_PERSONS],
        debts: vec![debt; MAX_DEBTS],
        holds: vec![hold; MAX_HOLDS],
        blackouts: vec![blackout; MAX_BLACKOUTS],
        call_consents: vec![consent; MAX_CALL_CONSENTS],
        updated_at: ts(),
        known_zone: s(ZONE_BYTES),
    }
    .encoded_len()
}

/// Encoded size of the largest `ContactOutcome` the bounds allow.
pub fn largest_outcome_bytes() -> usize {
    use collections_proto::ledger_v1 as pb;
    use prost::Message;
    let s = |n: usize| "x".repeat(n);
    let ts = Some(prost_types::Timestamp {
        seconds: i64::MAX / 2_000_000,
        nanos: 999_999_999,
    });
    pb::ContactOutcome {
        idempotency_key: s(ID_BYTES),
        account_id: s(ID_BYTES),
        person_id: s(ID_BYTES),
        debt_ids: vec![s(ID_BYTES); MAX_DEBTS],
        number: "+123456789012345".into(),
        direction: i32::MAX,
        channel: i32::MAX,
        dial_mode: i32::MAX,
        outcome: i32::MAX,
        party: i32::MAX,
        third_party_id: s(ID_BYTES),
        campaign_id: s(ID_BYTES),
        agent_id: s(ID_BYTES),
        started_at: ts,
        ring_ms: MAX_DURATION_MS,
        talk_ms: MAX_DURATION_MS,
        amd: i32::MAX,
        recording_ref: s(REF_BYTES),
        disposition: s(DISPOSITION_BYTES),
        counts_for_regf: true,
        event_id: i64::MAX,
        recorded_at: ts,
        checked_seq: i64::MAX,
    }
    .encoded_len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use collections_proto::MAX_MESSAGE_BYTES;

    #[test]
    fn the_largest_records_fit_in_one_message() {
        let account = largest_account_bytes();
        // A full account, or a full history response of it, with room to spare.
        assert!(account * 4 < MAX_MESSAGE_BYTES, "account: {account} bytes");
        // A full ingest message, and a full ListOutcomes page (1000 outcomes).
        let outcomes = largest_outcome_bytes() * MAX_OUTCOMES_PER_MESSAGE;
        assert!(outcomes < MAX_MESSAGE_BYTES, "outcomes: {outcomes} bytes");
    }
}
