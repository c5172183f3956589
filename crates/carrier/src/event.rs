//! What the network reports about a call, in the terms real telephony gives them.
//!
//! One call's events arrive in this order: [`CarrierEvent::Progress`] (a SIP 18x, when the
//! network sends one), [`CarrierEvent::PickedUp`] (200 OK), [`CarrierEvent::Answered`] (the
//! AMD verdict), [`CarrierEvent::Bridged`], [`CarrierEvent::Recorded`], and always last
//! [`CarrierEvent::Ended`]; any of
//! them but the last may be missing (a busy number ends after the INVITE).

use std::time::Duration;

use crate::CallId;

/// What the network reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarrierEvent {
    /// The far end is being alerted or plays early media (a SIP 180/183): what it sounds
    /// like. Nothing for the engine to do yet; it is the INVITE->18x timing.
    Progress { call: CallId, media: EarlyMedia },
    /// Picked up (200 OK); answering-machine detection is listening. The pacer counts the
    /// call as likely to need an agent within seconds.
    PickedUp { call: CallId },
    /// Picked up; AMD has decided. A human (or a call AMD is not sure of) now waits for an
    /// agent: bridge or abandon (with the safe-harbor message) within 2 s.
    Answered { call: CallId, amd: Amd },
    /// Bridged to the agent's endpoint: the conversation is on.
    Bridged { call: CallId, agent: String },
    /// The call's recording is finished (before its `Ended`): where it is and its hash, as
    /// the outcome's `recording_ref` (`file:PATH;sha256=HEX;retain_days=N`). Recordings are
    /// never logged; this reference is all that leaves the carrier.
    Recorded { call: CallId, reference: String },
    /// The call is over; nothing more will be reported for it.
    Ended { call: CallId, end: CallEnd },
}

/// Answering-machine detection's verdict on a picked-up call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Human,
    Machine,
    /// Detection could not decide in its time. Treated as a person: hanging up on one is an
    /// abandoned call.
    NotSure,
}

/// What the verdict rests on: what the detector heard after the pick-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmdCause {
    /// A short greeting, then silence: a person's "Hello?".
    ShortGreeting,
    /// A greeting longer than a person's.
    LongGreeting,
    /// More words before a pause than a person says.
    TooManyWords,
    /// A voicemail beep.
    Beep,
    /// Nothing said after the pick-up.
    InitialSilence,
    /// The detector ran out of time (with [`Verdict::NotSure`]).
    MaxTime,
}

/// The AMD result of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amd {
    pub verdict: Verdict,
    pub cause: AmdCause,
}

/// What was heard before the answer (early media of a 183, or the ringback of a 180).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EarlyMedia {
    /// The phone rings at the far end.
    Ringback,
    /// A busy tone (some networks play it before the 486).
    BusyTone,
    /// A special information tone: the number is not in service, changed, or the network
    /// cannot reach it (usually followed by an announcement and a 404 or 410).
    Sit,
    /// Speech or music without a SIT (a network announcement).
    Announcement,
}

/// Why a call ended, as the engine classifies outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndCause {
    Busy,
    /// Special information tone: not in service.
    Sit,
    /// Never connected (network failure, invalid number).
    Failed,
    /// Rang until the timeout.
    NoAnswer,
    /// Cancelled by us while ringing.
    Cancelled,
    /// The far end hung up.
    RemoteHangup,
    /// We hung up (after a machine verdict, an abandon message, or at the agent's request).
    LocalHangup,
}

/// A SIP final response status (RFC 3261): 200 for a call that was answered, else the
/// failure (486 busy, 404 not found, 487 request terminated, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SipStatus(pub u16);

impl SipStatus {
    pub const OK: SipStatus = SipStatus(200);
    pub const NOT_FOUND: SipStatus = SipStatus(404);
    pub const GONE: SipStatus = SipStatus(410);
    pub const TEMPORARILY_UNAVAILABLE: SipStatus = SipStatus(480);
    pub const BUSY_HERE: SipStatus = SipStatus(486);
    pub const REQUEST_TERMINATED: SipStatus = SipStatus(487);
    pub const SERVICE_UNAVAILABLE: SipStatus = SipStatus(503);
}

/// An ITU-T Q.850 cause value (from a Reason header, or the PSTN side of the trunk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Q850(pub u8);

impl Q850 {
    pub const UNALLOCATED_NUMBER: Q850 = Q850(1);
    pub const NORMAL_CLEARING: Q850 = Q850(16);
    pub const USER_BUSY: Q850 = Q850(17);
    pub const NO_ANSWER: Q850 = Q850(19);
    pub const NUMBER_CHANGED: Q850 = Q850(22);
    pub const NETWORK_OUT_OF_ORDER: Q850 = Q850(38);
}

/// When things happened, from the INVITE, in the network's time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// To the first 18x (ringing or early media), if any came.
    pub progress: Option<Duration>,
    /// To the 200 OK, if the call was picked up.
    pub answer: Option<Duration>,
    /// To the AMD verdict, if one was reached.
    pub verdict: Option<Duration>,
    /// To the end (the final failure response, or the BYE either way).
    pub end: Duration,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEnd {
    pub cause: EndCause,
    /// The INVITE's final response: [`SipStatus::OK`] once picked up (the call then ended
    /// with a BYE), else the failure.
    pub status: SipStatus,
    /// The Q.850 cause, when the network gave one.
    pub q850: Option<Q850>,
    /// What was heard before the answer, if anything was.
    pub early_media: Option<EarlyMedia>,
    pub timings: Timings,
}
