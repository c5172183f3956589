//! Input of one evaluation: the proposed call, the consumer as the ledger knows them, and
//! their contact history. Plain data with serde, so the JSON-lines CLI, the dialer and the
//! ledger all speak the same shapes. Unknown JSON fields are ignored (forward compatible).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::clock::ClockTime;

/// One proposed call at one instant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRequest {
    /// The instant the call would be originated (UTC).
    pub at: Timestamp,
    /// How the call is placed; automated modes fall under the TCPA rules.
    #[serde(default)]
    pub mode: DialMode,
    pub dial: Dial,
    pub consumer: Consumer,
    /// The consumer's debts; only needed for student-loan grouping (US-REGF-11).
    #[serde(default)]
    pub debts: Vec<Debt>,
    /// Past contacts, inbound and outbound, any order.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

impl CallRequest {
    /// The history entry this call leaves once placed, with the outcome it had: what a
    /// dialer (or a simulation of one) appends before asking about the next call.
    pub fn placed(&self, outcome: Outcome) -> HistoryEntry {
        HistoryEntry {
            at: self.at,
            direction: Direction::Outbound,
            number: Some(self.dial.number.clone()),
            debt_ids: vec![self.dial.debt_id.clone()],
            outcome,
            channel: Channel::Call,
            mode: Some(self.mode),
            party: self.dial.party,
            third_party_id: self.dial.third_party_id.clone(),
        }
    }
}

/// How a call is placed. Manual and preview calls are dialed by a person; the others by the
/// system, which is what the TCPA consent rules (US-TCPA-04..07) care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialMode {
    #[default]
    Manual,
    Preview,
    Progressive,
    Power,
    Predictive,
    /// Prerecorded or artificial voice, including ringless voicemail drops.
    Prerecorded,
}

impl DialMode {
    /// Dialed or voiced by equipment rather than a person pressing dial for this one call.
    pub fn is_automated(self) -> bool {
        !matches!(self, DialMode::Manual | DialMode::Preview)
    }
}

/// The number to dial and what the call is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dial {
    /// E.164, e.g. `+14045550134`.
    pub number: String,
    /// The debt the call is about.
    pub debt_id: String,
    /// Further debts the same call is about (the call must fit every one's budget).
    #[serde(default)]
    pub debt_ids: Vec<String>,
    /// Who is being called.
    #[serde(default)]
    pub party: Party,
    /// For `party = third_party`: who (US-REGF-14 counts location calls per third party).
    #[serde(default)]
    pub third_party_id: Option<String>,
    /// A live agent is reserved for this call before it is dialed (UK repeat-call rules).
    #[serde(default)]
    pub agent_reserved: bool,
}

impl Dial {
    /// Every debt this call is about, the primary one first, without repeats.
    pub fn all_debt_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.debt_id.as_str()).chain(
            self.debt_ids
                .iter()
                .map(String::as_str)
                .filter(move |d| *d != self.debt_id),
        )
    }
}

/// Who a call reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    #[default]
    Consumer,
    /// The consumer's attorney: allowed despite an attorney hold, never counted (US-REGF-05, -10).
    Attorney,
    /// A location-information call to somebody else (US-REGF-14).
    ThirdParty,
}

/// The consumer as far as compliance needs to know them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Consumer {
    #[serde(default)]
    pub phones: Vec<Phone>,
    #[serde(default)]
    pub addresses: Vec<Address>,
    /// An IANA zone the consumer confirmed being in; overrides every other source.
    #[serde(default)]
    pub known_zone: Option<String>,
    /// Consumer-stated inconvenient times and places (US-REGF-02).
    #[serde(default)]
    pub blackouts: Vec<Blackout>,
    #[serde(default)]
    pub holds: Vec<Hold>,
    /// Consumer's prior consent to be called at otherwise inconvenient times (US-REGF-03).
    #[serde(default)]
    pub consent_windows: Vec<ConsentWindow>,
    /// Consumer's direct prior consent to more calls about a debt (US-REGF-10).
    #[serde(default)]
    pub call_consents: Vec<CallConsent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phone {
    pub number: String,
    #[serde(default)]
    pub kind: PhoneKind,
    /// Prior express consent to automated or prerecorded calls (US-TCPA-04).
    #[serde(default)]
    pub consent_automated: bool,
    /// When that consent was revoked (US-TCPA-05); revocation applies on ingest.
    #[serde(default)]
    pub consent_revoked_at: Option<Timestamp>,
    /// The consumer's employer prohibits calls at work (US-REGF-04).
    #[serde(default)]
    pub employer_prohibits: bool,
    /// Latest Reassigned Numbers Database answer (US-TCPA-07).
    #[serde(default)]
    pub rnd: Option<RndAnswer>,
}

/// Line type. `unknown` is treated as possibly wireless (consent needed for automation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    Mobile,
    /// A residential landline: tied to the home as a place (US-REGF-02).
    Landline,
    Work,
    Voip,
    #[default]
    Unknown,
}

impl PhoneKind {
    /// A residence or cell number or one the debtor gave as personal (MA 940 CMR 7.04).
    pub fn is_personal(self) -> bool {
        !matches!(self, PhoneKind::Work)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RndAnswer {
    Yes,
    No,
    NoData,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Address {
    #[serde(default)]
    pub zip: Option<String>,
    /// Two-letter state, territory or province code.
    #[serde(default)]
    pub state: Option<String>,
    /// ISO 3166 alpha-2; `US` when absent.
    #[serde(default)]
    pub country: Option<String>,
    /// Former addresses are kept on file but are no location signal.
    #[serde(default = "yes")]
    pub current: bool,
}

fn yes() -> bool {
    true
}

/// "Weekdays 15:00-17:00 are bad", "don't call me at home" (US-REGF-02).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Blackout {
    /// Days it applies to; empty means every day.
    #[serde(default)]
    pub days: Vec<Day>,
    /// Local start time; absent means the whole day.
    #[serde(default)]
    pub from: Option<ClockTime>,
    /// Local end time (exclusive); may be earlier than `from` for a range across midnight.
    #[serde(default)]
    pub to: Option<ClockTime>,
    #[serde(default)]
    pub since: Option<Timestamp>,
    #[serde(default)]
    pub until: Option<Timestamp>,
    /// Only this number.
    #[serde(default)]
    pub number: Option<String>,
    /// Only numbers tied to this place.
    #[serde(default)]
    pub place: Option<Place>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// Home landlines (a mobile is not tied to a place).
    Home,
    /// Work numbers.
    Work,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// Monday = 0 .. Sunday = 6.
    pub fn index(self) -> u8 {
        self as u8
    }
}

/// A hold stops calls from `since` (the receiving system's timestamp) until `until`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hold {
    pub kind: HoldKind,
    /// The debt it is about; absent means every debt of the consumer.
    #[serde(default)]
    pub debt_id: Option<String>,
    /// For number-scoped holds (`number_optout`, `wrong_number`).
    #[serde(default)]
    pub number: Option<String>,
    pub since: Timestamp,
    #[serde(default)]
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    /// Written cease or refusal to pay (US-REGF-06).
    Cease,
    /// Represented by an attorney for this debt (US-REGF-05).
    Attorney,
    /// "Stop calling me": no telephone calls at all (US-REGF-07).
    MediumOptout,
    /// Opt-out of one number (US-REGF-07).
    NumberOptout,
    /// The number is not the consumer's.
    WrongNumber,
    /// Disputed, verification pending (policy).
    Dispute,
    /// Bankruptcy filed (policy: automatic stay).
    Bankruptcy,
    /// Deceased with no representative known (policy).
    Deceased,
}

/// "Call me at 7:30 tomorrow" given directly to this collector (US-REGF-03).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentWindow {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Only this number; absent means any.
    #[serde(default)]
    pub number: Option<String>,
    /// Consent given to a creditor or a previous collector does not count.
    #[serde(default = "yes")]
    pub direct_to_collector: bool,
    /// Asked for to continue a call that was already at an inconvenient time: does not count.
    #[serde(default)]
    pub solicited_during_inconvenient_call: bool,
}

impl ConsentWindow {
    pub fn is_valid(&self) -> bool {
        self.direct_to_collector && !self.solicited_during_inconvenient_call && self.from < self.to
    }
}

/// Direct prior consent to further calls about a debt: calls in the next 7 days are not
/// counted by US-REGF-08/09 (1006.14(b)(3)(i)).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallConsent {
    pub debt_id: String,
    pub given_at: Timestamp,
    /// A shorter period the consumer gave, in days (day 1 = the day consent was received).
    #[serde(default)]
    pub days: Option<u8>,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Debt {
    pub id: String,
    /// Student loans serviced under one account number at placement are one debt (US-REGF-11).
    #[serde(default)]
    pub student_loan_group: Option<String>,
}

/// One past contact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub number: Option<String>,
    /// Debts the call was about (for a conversation: the debts discussed).
    #[serde(default)]
    pub debt_ids: Vec<String>,
    pub outcome: Outcome,
    #[serde(default)]
    pub channel: Channel,
    #[serde(default)]
    pub mode: Option<DialMode>,
    #[serde(default)]
    pub party: Party,
    #[serde(default)]
    pub third_party_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Outbound,
    Inbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Call,
    Text,
    Email,
}

/// How a call ended, as carrier/SIP data and the agent's disposition tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Busy,
    /// Special information tone: "not in service".
    Sit,
    /// Never connected to the dialed number.
    Failed,
    NoAnswer,
    /// Reached voicemail (a message naming the debts may have been left).
    Voicemail,
    /// Limited-content message left (US-REGF-13): names no debt.
    Lcm,
    /// Answering machine detected, no message.
    Machine,
    /// Answered by a person, no conversation about a debt.
    Answered,
    /// Answered live with no agent within 2 s.
    Abandoned,
    /// A conversation with the consumer about the debts listed.
    Conversation,
    /// Reached somebody who is not the consumer: the call was misdirected.
    WrongParty,
}

impl Outcome {
    /// Reg F "placed call" that counts (US-REGF-10): it rang, was answered or reached
    /// voicemail. Busy, SIT, never-connected and misdirected calls do not count.
    pub fn counts_for_regf(self) -> bool {
        !matches!(
            self,
            Outcome::Busy | Outcome::Sit | Outcome::Failed | Outcome::WrongParty
        )
    }

    /// The call named the debts it was about, so it counts for each of them; an unanswered
    /// call or an LCM names none and counts against one (US-REGF-10).
    pub fn names_debts(self) -> bool {
        matches!(self, Outcome::Conversation | Outcome::Voicemail)
    }

    /// A message or a person was reached: a "communication" for WA and a "contact" for
    /// Ontario (an unanswered call with no message is neither).
    pub fn reached(self) -> bool {
        matches!(
            self,
            Outcome::Voicemail
                | Outcome::Lcm
                | Outcome::Answered
                | Outcome::Abandoned
                | Outcome::Conversation
        )
    }
}
