//! Plain Rust types of the ledger and their validation rules, free of protobuf and SQL, so the
//! store and the gRPC edge agree on one meaning. The contact vocabulary (outcome, direction,
//! channel, dial mode, hold kind, phone kind, blackout days and places) is the compliance
//! crate's, so the ledger's history feeds the compliance engine without mapping; only
//! [`Party`] is the ledger's own (who a call reached, where the rules ask whom it was for).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::codes;
use crate::limits::*;

pub use compliance::model::{Channel, DialMode, Direction, HoldKind, Outcome, PhoneKind, Place};

/// Who a contact reached: what managers' right-party figures are computed from. (Whom a call
/// was *for*, which the frequency rules count by, follows from it: see [`Party::target`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The consumer themself (a right-party contact).
    #[default]
    Consumer,
    /// The consumer's attorney (calls to them are not counted, US-REGF-05, -10).
    Attorney,
    /// Somebody else: a wrong number, a relative, or the third party of a location call
    /// (named by `third_party_id`, US-REGF-14).
    ThirdParty,
    /// Nobody: busy, no answer, failed, not in service.
    Nobody,
    /// An answering machine or voicemail.
    Machine,
    /// A person who was not identified (hung up before an agent came, or said nothing).
    Unidentified,
}

impl Party {
    /// Whom the contact was for, as the compliance rules count it: the attorney, the third
    /// party of a location call (`third_party_id` set), else the consumer (a call to the
    /// consumer's number counts whoever or whatever answered it).
    pub fn target(self, third_party_id: &str) -> compliance::model::Party {
        use compliance::model::Party as T;
        match self {
            Party::Attorney => T::Attorney,
            Party::ThirdParty if !third_party_id.is_empty() => T::ThirdParty,
            _ => T::Consumer,
        }
    }
}

/// Day of week as the compliance crate names it.
pub use compliance::model::Day;

/// A rule a record broke: the field path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Path of the offending field, e.g. `account.debts[0].currency`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

type VResult = Result<(), ValidationError>;

/// A required id (or name): not blank, at most `max` bytes.
fn required(field: &str, v: &str, max: usize) -> VResult {
    if v.trim().is_empty() {
        return Err(ValidationError::new(field, "is required"));
    }
    bounded(field, v, max)
}

/// A required id of at most [`ID_BYTES`].
fn required_id(field: &str, v: &str) -> VResult {
    required(field, v, ID_BYTES)
}

/// An optional string of at most `max` bytes.
pub fn bounded(field: &str, v: &str, max: usize) -> VResult {
    if v.len() > max {
        return Err(ValidationError::new(
            field,
            format!("is {} bytes long; at most {max} allowed", v.len()),
        ));
    }
    Ok(())
}

/// A repeated field of at most `max` entries.
pub fn at_most<T>(field: &str, items: &[T], max: usize) -> VResult {
    if items.len() > max {
        return Err(ValidationError::new(
            field,
            format!("has {} entries; at most {max} allowed", items.len()),
        ));
    }
    Ok(())
}

/// An amount in minor units: `0..=MAX_MINOR` (or `1..=` when `positive`).
fn money(field: &str, v: i64, positive: bool) -> VResult {
    let lo = i64::from(positive);
    if v < lo || v > MAX_MINOR {
        let what = if positive { "positive" } else { "non-negative" };
        return Err(ValidationError::new(
            field,
            format!("must be {what} and at most {MAX_MINOR}"),
        ));
    }
    Ok(())
}

/// E.164: `+` then 8 to 15 digits, not starting with 0.
pub fn validate_e164(field: &str, v: &str) -> VResult {
    let digits = v.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            "must be an E.164 number like +14045550134",
        ))
    }
}

/// An ISO 4217 code, upper case.
pub fn validate_currency(field: &str, v: &str) -> VResult {
    if codes::is_currency(v) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            "must be an ISO 4217 code like USD",
        ))
    }
}

/// Local clock time `HH:MM`.
pub fn validate_hhmm(field: &str, v: &str) -> VResult {
    let ok = v.len() == 5
        && v.as_bytes()[2] == b':'
        && v[..2].parse::<u8>().is_ok_and(|h| h < 24)
        && v[3..].parse::<u8>().is_ok_and(|m| m < 60);
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(field, "must be a local time HH:MM"))
    }
}

/// Role of a person on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRole {
    Primary,
    CoSigner,
    AuthorizedThirdParty,
    Attorney,
}

/// An account: a consumer file with its people, debts and preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub creditor: String,
    pub known_zone: String,
    pub persons: Vec<Person>,
    pub debts: Vec<Debt>,
    /// Holds carried by a load are set if their id is new; otherwise SetHold manages them.
    pub holds: Vec<Hold>,
    pub blackouts: Vec<Blackout>,
    pub call_consents: Vec<CallConsent>,
    /// Read-only: when the profile last changed.
    #[serde(skip)]
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub person_id: String,
    pub full_name: String,
    pub role: PersonRole,
    pub phones: Vec<Phone>,
    pub addresses: Vec<Address>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phone {
    pub number: String,
    pub kind: PhoneKind,
    pub consent_automated: bool,
    pub consent_source: String,
    pub consent_at: Option<Timestamp>,
    pub consent_revoked_at: Option<Timestamp>,
    pub employer_prohibits: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    pub city: String,
    pub zip: String,
    pub state: String,
    pub country: String,
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Debt {
    pub debt_id: String,
    pub balance_minor: i64,
    pub currency: String,
    pub days_past_due: i32,
    pub student_loan_group: String,
    pub original_creditor: String,
    /// Read-only: last contact or change concerning the debt (retention clock).
    #[serde(skip)]
    pub last_activity_at: Option<Timestamp>,
    /// Read-only: what the receivables ledger derives from the debt's money events (`None`
    /// when it has none). Not part of a load, so not part of its content hash.
    #[serde(skip)]
    pub receivables: Option<DebtReceivables>,
}

/// A debt's receivables summary as of a date (the ledger's today when read): what the
/// dialer ranks by and shows in the screen pop. Statuses are the receivables engine's
/// snake_case names (`pending`, `kept`, `broken`, `superseded`; `active`, `completed`,
/// `broken`, `replaced`); empty when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DebtReceivables {
    pub as_of: Option<jiff::civil::Date>,
    /// Total open (sum of the open items).
    pub open_minor: i64,
    /// Money held for the consumer (never together with an open amount).
    pub credit_balance_minor: i64,
    /// The part of `open_minor` past its due date.
    pub past_due_minor: i64,
    /// Days past due of the oldest open item (0 when nothing is past due).
    pub oldest_days_past_due: i32,
    /// Aging bucket of the oldest open item (`current`, `1_30`, ... `121_plus`); empty when
    /// nothing is open.
    pub oldest_bucket: String,
    /// The latest promise: status, amount, due date, grace days.
    pub promise_status: String,
    pub promise_amount_minor: i64,
    pub promise_due: Option<jiff::civil::Date>,
    pub promise_grace_days: u32,
    /// The plan in force (`active`), else the latest plan's status.
    pub plan_status: String,
    pub in_dispute: bool,
    pub settled: bool,
    /// The latest payment not reversed: date and amount.
    pub last_payment_date: Option<jiff::civil::Date>,
    pub last_payment_minor: i64,
}

impl DebtReceivables {
    /// The day after the latest promise's due date plus grace: from then on a pending
    /// promise is broken (receivables rule 6). `None` without a promise.
    pub fn promise_broken_from(&self) -> Option<jiff::civil::Date> {
        let due = self.promise_due?;
        due.checked_add(jiff::Span::new().days(i64::from(self.promise_grace_days) + 1))
            .ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub hold_id: String,
    pub account_id: String,
    pub kind: HoldKind,
    /// Empty: every debt of the account.
    pub debt_id: String,
    /// Empty unless number-scoped.
    pub number: String,
    pub since: Timestamp,
    pub until: Option<Timestamp>,
    pub set_by: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blackout {
    pub days: Vec<Day>,
    /// `HH:MM` or empty for the whole day.
    pub from: String,
    pub to: String,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub number: String,
    pub place: Option<Place>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallConsent {
    pub debt_id: String,
    pub given_at: Timestamp,
    /// 0 = the default period of 7 days.
    pub days: u32,
    pub revoked_at: Option<Timestamp>,
}

/// Answering-machine detection verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmdVerdict {
    NotRun,
    Human,
    Machine,
    NotSure,
}

/// One contact attempt or conversation. Immutable once recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactOutcome {
    pub idempotency_key: String,
    pub account_id: String,
    pub person_id: String,
    pub debt_ids: Vec<String>,
    pub number: String,
    pub direction: Direction,
    pub channel: Channel,
    pub dial_mode: Option<DialMode>,
    pub outcome: Outcome,
    pub party: Party,
    pub third_party_id: String,
    pub campaign_id: String,
    pub agent_id: String,
    pub started_at: Timestamp,
    pub ring_ms: i64,
    pub talk_ms: i64,
    pub amd: AmdVerdict,
    pub recording_ref: String,
    pub disposition: String,
    /// Set by the ledger from the outcome, channel and party.
    pub counts_for_regf: bool,
    /// Set by the ledger on recording.
    pub event_id: i64,
    pub recorded_at: Option<Timestamp>,
    /// The ledger change seq the dialer's pre-dial check confirmed the account against (0:
    /// no check). Kept for audit: every change up to it was known when the call was placed.
    #[serde(default)]
    pub checked_seq: i64,
}

impl ContactOutcome {
    /// Whether this contact is a placed call that counts toward Reg F frequency limits: a
    /// call (not a text or email) whose outcome counts, not placed to the consumer's attorney.
    pub fn compute_counts_for_regf(&self) -> bool {
        self.channel == Channel::Call
            && self.direction == Direction::Outbound
            && self.party != Party::Attorney
            && self.outcome.counts_for_regf()
    }

    /// Content rules (shape only; the store checks that the account and debts exist).
    pub fn validate(&self) -> VResult {
        required_id("idempotency_key", &self.idempotency_key)?;
        required_id("account_id", &self.account_id)?;
        bounded("person_id", &self.person_id, ID_BYTES)?;
        if self.debt_ids.is_empty() {
            return Err(ValidationError::new("debt_ids", "needs at least one debt"));
        }
        at_most("debt_ids", &self.debt_ids, MAX_DEBTS)?;
        for (i, d) in self.debt_ids.iter().enumerate() {
            required_id(&format!("debt_ids[{i}]"), d)?;
        }
        if self.channel == Channel::Call || !self.number.is_empty() {
            validate_e164("number", &self.number)?;
        }
        if !self.third_party_id.is_empty() && self.party != Party::ThirdParty {
            return Err(ValidationError::new(
                "third_party_id",
                "names the third party of a location call: only with party THIRD_PARTY",
            ));
        }
        for (f, v) in [("ring_ms", self.ring_ms), ("talk_ms", self.talk_ms)] {
            if !(0..=MAX_DURATION_MS).contains(&v) {
                return Err(ValidationError::new(
                    f,
                    format!("must be 0..={MAX_DURATION_MS} (a day)"),
                ));
            }
        }
        for (f, v, max) in [
            ("campaign_id", &self.campaign_id, ID_BYTES),
            ("agent_id", &self.agent_id, ID_BYTES),
            ("third_party_id", &self.third_party_id, ID_BYTES),
            ("recording_ref", &self.recording_ref, REF_BYTES),
            ("disposition", &self.disposition, DISPOSITION_BYTES),
        ] {
            bounded(f, v, max)?;
        }
        Ok(())
    }

    /// An attempt cannot have started in the future: `started_at` may be at most `skew`
    /// after `now` (the ledger's clock), for clocks that disagree a little.
    pub fn validate_started_at(&self, now: Timestamp, skew: SignedDuration) -> VResult {
        let latest = now.checked_add(skew).unwrap_or(Timestamp::MAX);
        if self.started_at > latest {
            return Err(ValidationError::new(
                "started_at",
                format!(
                    "{} is in the future (the ledger's clock reads {now}; at most {} s ahead allowed)",
                    self.started_at,
                    skew.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

impl Address {
    fn validate_with(&self, f: &str) -> VResult {
        bounded(&format!("{f}.line1"), &self.line1, NAME_BYTES)?;
        bounded(&format!("{f}.city"), &self.city, CITY_BYTES)?;
        bounded(&format!("{f}.zip"), &self.zip, ZIP_BYTES)?;
        if !self.country.is_empty() && !codes::is_country(&self.country) {
            return Err(ValidationError::new(
                format!("{f}.country"),
                "must be an ISO 3166 alpha-2 code like US",
            ));
        }
        let country = if self.country.is_empty() {
            "US"
        } else {
            &self.country
        };
        if !self.state.is_empty() && !codes::is_state(country, &self.state) {
            let problem = if codes::has_state_codes(country) {
                format!("is not a state, territory or province code of {country}")
            } else {
                "must be a two-letter upper-case code".to_owned()
            };
            return Err(ValidationError::new(format!("{f}.state"), problem));
        }
        Ok(())
    }
}

impl Account {
    /// Every rule of a record, with the field path of the first one broken.
    pub fn validate(&self) -> VResult {
        required_id("account.account_id", &self.account_id)?;
        bounded("account.creditor", &self.creditor, NAME_BYTES)?;
        bounded("account.known_zone", &self.known_zone, ZONE_BYTES)?;
        if !self.known_zone.is_empty() && jiff::tz::TimeZone::get(&self.known_zone).is_err() {
            return Err(ValidationError::new(
                "account.known_zone",
                "is not a known IANA time zone",
            ));
        }
        if self.persons.is_empty() {
            return Err(ValidationError::new(
                "account.persons",
                "needs at least one person",
            ));
        }
        at_most("account.persons", &self.persons, MAX_PERSONS)?;
        let mut person_ids = std::collections::HashSet::new();
        for (i, p) in self.persons.iter().enumerate() {
            let f = format!("account.persons[{i}]");
            required_id(&format!("{f}.person_id"), &p.person_id)?;
            if !person_ids.insert(p.person_id.as_str()) {
                return Err(ValidationError::new(
                    format!("{f}.person_id"),
                    "is repeated",
                ));
            }
            required(&format!("{f}.full_name"), &p.full_name, NAME_BYTES)?;
            at_most(&format!("{f}.phones"), &p.phones, MAX_PHONES)?;
            let mut numbers = std::collections::HashSet::new();
            for (j, ph) in p.phones.iter().enumerate() {
                validate_e164(&format!("{f}.phones[{j}].number"), &ph.number)?;
                if !numbers.insert(ph.number.as_str()) {
                    return Err(ValidationError::new(
                        format!("{f}.phones[{j}].number"),
                        "is repeated",
                    ));
                }
                bounded(
                    &format!("{f}.phones[{j}].consent_source"),
                    &ph.consent_source,
                    NAME_BYTES,
                )?;
                if ph.consent_automated && ph.consent_at.is_none() {
                    return Err(ValidationError::new(
                        format!("{f}.phones[{j}].consent_at"),
                        "is required when consent_automated is set",
                    ));
                }
            }
            at_most(&format!("{f}.addresses"), &p.addresses, MAX_ADDRESSES)?;
            for (j, a) in p.addresses.iter().enumerate() {
                a.validate_with(&format!("{f}.addresses[{j}]"))?;
            }
        }
        if self.debts.is_empty() {
            return Err(ValidationError::new(
                "account.debts",
                "needs at least one debt",
            ));
        }
        at_most("account.debts", &self.debts, MAX_DEBTS)?;
        let mut debt_ids = std::collections::HashSet::new();
        for (i, d) in self.debts.iter().enumerate() {
            let f = format!("account.debts[{i}]");
            required_id(&format!("{f}.debt_id"), &d.debt_id)?;
            if !debt_ids.insert(d.debt_id.as_str()) {
                return Err(ValidationError::new(format!("{f}.debt_id"), "is repeated"));
            }
            money(&format!("{f}.balance_minor"), d.balance_minor, false)?;
            validate_currency(&format!("{f}.currency"), &d.currency)?;
            if !(0..=MAX_DAYS_PAST_DUE).contains(&d.days_past_due) {
                return Err(ValidationError::new(
                    format!("{f}.days_past_due"),
                    format!("must be 0..={MAX_DAYS_PAST_DUE}"),
                ));
            }
            bounded(
                &format!("{f}.student_loan_group"),
                &d.student_loan_group,
                ID_BYTES,
            )?;
            bounded(
                &format!("{f}.original_creditor"),
                &d.original_creditor,
                NAME_BYTES,
            )?;
        }
        at_most("account.holds", &self.holds, MAX_HOLDS)?;
        for (i, h) in self.holds.iter().enumerate() {
            if h.account_id != self.account_id {
                return Err(ValidationError::new(
                    format!("account.holds[{i}].account_id"),
                    "must be the account's id or empty",
                ));
            }
            h.validate_with(&format!("account.holds[{i}]"))?;
        }
        at_most("account.blackouts", &self.blackouts, MAX_BLACKOUTS)?;
        for (i, b) in self.blackouts.iter().enumerate() {
            let f = format!("account.blackouts[{i}]");
            for (j, d) in b.days.iter().enumerate() {
                if b.days[..j].contains(d) {
                    return Err(ValidationError::new(
                        format!("{f}.days[{j}]"),
                        "is repeated",
                    ));
                }
            }
            if b.from.is_empty() != b.to.is_empty() {
                return Err(ValidationError::new(
                    format!("{f}.to"),
                    "from and to are set together",
                ));
            }
            if !b.from.is_empty() {
                validate_hhmm(&format!("{f}.from"), &b.from)?;
                validate_hhmm(&format!("{f}.to"), &b.to)?;
            }
            if let (Some(since), Some(until)) = (b.since, b.until)
                && until < since
            {
                return Err(ValidationError::new(
                    format!("{f}.until"),
                    "must not be before since",
                ));
            }
            if !b.number.is_empty() {
                validate_e164(&format!("{f}.number"), &b.number)?;
            }
        }
        at_most(
            "account.call_consents",
            &self.call_consents,
            MAX_CALL_CONSENTS,
        )?;
        for (i, c) in self.call_consents.iter().enumerate() {
            let f = format!("account.call_consents[{i}]");
            if !debt_ids.contains(c.debt_id.as_str()) {
                return Err(ValidationError::new(
                    format!("{f}.debt_id"),
                    "is not a debt of the account",
                ));
            }
            if c.days > 7 {
                return Err(ValidationError::new(format!("{f}.days"), "must be 0..=7"));
            }
        }
        Ok(())
    }
}

impl Hold {
    pub fn validate(&self) -> VResult {
        self.validate_with("hold")
    }

    fn validate_with(&self, f: &str) -> VResult {
        required_id(&format!("{f}.account_id"), &self.account_id)?;
        bounded(&format!("{f}.hold_id"), &self.hold_id, ID_BYTES)?;
        bounded(&format!("{f}.debt_id"), &self.debt_id, ID_BYTES)?;
        bounded(&format!("{f}.set_by"), &self.set_by, ID_BYTES)?;
        bounded(&format!("{f}.reason"), &self.reason, TEXT_BYTES)?;
        if matches!(self.kind, HoldKind::NumberOptout | HoldKind::WrongNumber)
            || !self.number.is_empty()
        {
            validate_e164(&format!("{f}.number"), &self.number)?;
        }
        if let Some(until) = self.until
            && until < self.since
        {
            return Err(ValidationError::new(
                format!("{f}.until"),
                "must not be before since",
            ));
        }
        Ok(())
    }
}

/// A promise to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromiseStatus {
    Pending,
    Kept,
    Broken,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promise {
    pub promise_id: String,
    pub account_id: String,
    pub debt_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    pub status: PromiseStatus,
    pub outcome_key: String,
    pub set_by: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

impl Promise {
    pub fn validate(&self) -> VResult {
        required_id("promise.account_id", &self.account_id)?;
        required_id("promise.debt_id", &self.debt_id)?;
        bounded("promise.promise_id", &self.promise_id, ID_BYTES)?;
        money("promise.amount_minor", self.amount_minor, true)?;
        validate_currency("promise.currency", &self.currency)?;
        bounded("promise.outcome_key", &self.outcome_key, ID_BYTES)?;
        bounded("promise.set_by", &self.set_by, ID_BYTES)?;
        if self.due_date.len() != 10 || self.due_date.parse::<jiff::civil::Date>().is_err() {
            return Err(ValidationError::new(
                "promise.due_date",
                "must be a date YYYY-MM-DD",
            ));
        }
        Ok(())
    }
}

/// Consent to automated calls given or revoked on one phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentUpdate {
    pub account_id: String,
    pub person_id: String,
    pub number: String,
    pub consent: bool,
    pub source: String,
    pub at: Timestamp,
    pub set_by: String,
}

impl ConsentUpdate {
    pub fn validate(&self) -> VResult {
        required_id("account_id", &self.account_id)?;
        required_id("person_id", &self.person_id)?;
        validate_e164("number", &self.number)?;
        if self.consent {
            required("source", &self.source, NAME_BYTES)?;
        }
        bounded("source", &self.source, NAME_BYTES)?;
        bounded("set_by", &self.set_by, ID_BYTES)?;
        Ok(())
    }
}

/// What a change-feed entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Outcome,
    Hold,
    Consent,
    Promise,
    Account,
    /// A money event changed a ledger debt's receivables (issue 12).
    Receivables,
}

/// A change without its payload, as the pre-dial check reports it (`CheckAccounts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRef {
    pub seq: i64,
    pub kind: ChangeKind,
    pub account_id: String,
    /// Outcome: its idempotency key; hold: hold_id; promise: promise_id; consent: the number;
    /// account: the account id; receivables: the money event id.
    pub ref_id: String,
}

/// What the pre-dial check found: every change of the asked accounts after their cursors, up
/// to `as_of_seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountCheck {
    pub as_of_seq: i64,
    pub changes: Vec<ChangeRef>,
}

/// Most accounts one pre-dial check asks about.
pub const MAX_CHECK_ACCOUNTS: usize = 1000;

/// A consent change as the feed carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentChange {
    pub account_id: String,
    pub person_id: String,
    pub phone: Phone,
    pub set_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChangePayload {
    Outcome(Box<ContactOutcome>),
    Hold(Hold),
    Consent(ConsentChange),
    Promise(Promise),
    Account(String),
    Receivables(MoneyEventChange),
}

/// A money event that changed a ledger debt's receivables, as the feed carries it: enough
/// for a consumer to know which debt to reload and why (the summary is `GetAccount`'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyEventChange {
    /// The debt (the money event's `account`).
    pub debt_id: String,
    pub event_id: String,
    /// `charge`, `payment`, ... (the event's `type`).
    pub event_type: String,
    /// YYYY-MM-DD.
    pub event_date: String,
    /// A plan's total; 0 for a reversal and a write-off of the whole open balance.
    pub amount_minor: i64,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub kind: ChangeKind,
    pub account_id: String,
    pub recorded_at: Timestamp,
    pub payload: ChangePayload,
}

/// Filters of ListOutcomes.
#[derive(Debug, Clone, Default)]
pub struct OutcomeFilter {
    pub account_id: String,
    pub debt_id: String,
    pub campaign_id: String,
    pub idempotency_key: String,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only events with a larger event id (paging cursor).
    pub after_event_id: i64,
    pub limit: u32,
}

/// Filters of ListAccounts (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Exactly this creditor; empty: any.
    pub creditor: String,
    /// Inclusive bounds on the sum of the account's debts' `balance_minor`.
    pub min_balance_minor: Option<i64>,
    pub max_balance_minor: Option<i64>,
    /// Inclusive bounds on the largest `days_past_due` of the account's debts.
    pub min_days_past_due: Option<i32>,
    pub max_days_past_due: Option<i32>,
    /// Some(true): at least one phone on any person; Some(false): none.
    pub has_phone: Option<bool>,
}

impl AccountFilter {
    /// Bounds must be ordered and days non-negative; `field_prefix` names the message
    /// (e.g. `filter`) in the error.
    pub fn validate(&self, field_prefix: &str) -> VResult {
        bounded(
            &format!("{field_prefix}.creditor"),
            &self.creditor,
            NAME_BYTES,
        )?;
        for (f, v) in [
            ("min_days_past_due", self.min_days_past_due),
            ("max_days_past_due", self.max_days_past_due),
        ] {
            if v.is_some_and(|d| d < 0) {
                return Err(ValidationError::new(
                    format!("{field_prefix}.{f}"),
                    "must not be negative",
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_balance_minor, self.max_balance_minor)
            && hi < lo
        {
            return Err(ValidationError::new(
                format!("{field_prefix}.max_balance_minor"),
                "must not be less than min_balance_minor",
            ));
        }
        if let (Some(lo), Some(hi)) = (self.min_days_past_due, self.max_days_past_due)
            && hi < lo
        {
            return Err(ValidationError::new(
                format!("{field_prefix}.max_days_past_due"),
                "must not be less than min_days_past_due",
            ));
        }
        Ok(())
    }
}

/// What the compliance engine needs about one person or debt.
#[derive(Debug, Clone)]
pub struct ContactHistory {
    pub contacts: Vec<ContactOutcome>,
    pub account: Account,
}

/// How one record of an UpsertAccounts stream was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    Updated,
    Unchanged,
}

/// How one outcome was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckKind {
    Recorded,
    Duplicate,
    /// gRPC code name, field, message.
    Rejected {
        code: &'static str,
        field: String,
        message: String,
    },
}

/// Snake-case name of a serde unit enum (how enums are stored as TEXT).
pub fn enum_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("not a unit enum: {other:?}"),
    }
}

/// Parse a snake-case enum name back.
pub fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_round_trip() {
        assert_eq!(enum_name(&Outcome::NoAnswer), "no_answer");
        assert_eq!(
            parse_enum::<Outcome>("wrong_party"),
            Some(Outcome::WrongParty)
        );
        assert_eq!(enum_name(&HoldKind::MediumOptout), "medium_optout");
        assert_eq!(parse_enum::<Outcome>("nope"), None);
    }

    #[test]
    fn e164_and_currency() {
        assert!(validate_e164("n", "+14045550134").is_ok());
        assert!(validate_e164("n", "4045550134").is_err());
        assert!(validate_e164("n", "+0123456789").is_err());
        assert!(validate_currency("c", "USD").is_ok());
        assert!(validate_currency("c", "usd").is_err());
        assert!(validate_hhmm("t", "09:30").is_ok());
        assert!(validate_hhmm("t", "24:00").is_err());
    }
}

/// How the message of a command refused for a stale campaign lease starts (the ledger's
/// FAILED_PRECONDITION, and the REJECTED ack of an outcome): clients tell it apart from other
/// refusals by [`is_fenced`].
pub const FENCED: &str = "stale fencing token";

/// The field a fenced outcome's REJECTED ack names.
pub const FENCE_FIELD: &str = "fence.token";

/// The campaign lease a dialer replica held when it sent a command on the campaign's behalf.
/// The ledger keeps the highest token seen per campaign and refuses lower ones, so a replica
/// frozen past its lease cannot write after the one that took the campaign over
/// (docs/architecture.md, "Campaign ownership").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    pub campaign_id: String,
    pub token: i64,
}

impl Fence {
    /// The refusal's message: names the campaign and both tokens.
    pub fn refusal(&self, current: i64) -> String {
        format!(
            "{FENCED}: campaign {} token {} is below the campaign's current {current} \
             (another dialer replica holds the campaign)",
            self.campaign_id, self.token
        )
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        required("fence.campaign_id", &self.campaign_id, ID_BYTES)?;
        if self.token < 1 {
            return Err(ValidationError::new("fence.token", "must be positive"));
        }
        Ok(())
    }
}

/// Whether a refusal (gRPC code name and message) is the ledger's stale-fence refusal.
pub fn is_fenced(code: &str, message: &str) -> bool {
    code == "FAILED_PRECONDITION" && message.starts_with(FENCED)
}
