//! The dialer's seam to the telephone network: originate calls, learn how they go, bridge
//! live answers to agents, hang up (with a message), cancel ringing calls.
//!
//! Commands are synchronous and non-blocking (a real adapter queues them to its signalling
//! task); what happens on the network arrives as [`CarrierEvent`]s on one channel per
//! carrier, so the campaign engine is a single event loop whatever the network.
//!
//! # Layout
//!
//! - this file: the seam itself. [`Carrier`] (the commands: [`Originate`], bridge, hang up
//!   with a [`Prompt`], cancel, refused with a [`CarrierError`]) and [`Network`], where each
//!   campaign gets its own carrier and event channel.
//! - [`event`]: what the network reports, in the terms real telephony gives them: the AMD
//!   verdict with its cause ([`Amd`]), the early media heard before an answer
//!   ([`EarlyMedia`]), and on every end ([`CallEnd`]) the SIP final status, the Q.850 cause
//!   and the call's timings from the INVITE. A SIP trunk adapter fills them from its
//!   signalling and media; the engine needs only [`EndCause`] and the verdict, the rest is
//!   there for records, reports and tuning.
//! - [`sim`]: the simulated network ([`sim::SimCarrier`], [`sim::SimNetwork`]): each call
//!   plays out on tokio time the pacing benchmark's attempt model, so a paused tokio clock
//!   runs hours of dialing in seconds. The embedded default and the load generator.
//!
//! The crate depends on no service and on nothing of tokio but channels, tasks and time
//! (the simulated carrier's calls are tasks; a SIP adapter will be one too).

pub mod event;
pub mod sim;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

pub use event::{
    Amd, AmdCause, CallEnd, CarrierEvent, EarlyMedia, EndCause, Q850, SipStatus, Timings, Verdict,
};
pub use sim::SimNetwork;

/// The engine's id of a call (also the attempt id recorded in the ledger).
pub type CallId = u64;

/// Rings shorter than this may not be cancelled (US-TCPA-02, UK-OFCOM-01).
pub const MIN_RING: Duration = Duration::from_secs(15);

/// Where one carrier's events arrive, in the order the network reported them.
pub type Events = UnboundedReceiver<CarrierEvent>;

/// One call to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originate {
    pub call: CallId,
    /// E.164 number to dial.
    pub to: String,
    /// Number presented: a DID the tenant controls (US-TCPA-03).
    pub caller_id: String,
    /// Give up ringing after this long (at least [`MIN_RING`]).
    pub ring_timeout: Duration,
}

impl Originate {
    /// Checks what every carrier refuses: a number that is not E.164, a ring shorter than
    /// the legal minimum.
    pub fn validate(&self) -> Result<(), CarrierError> {
        let digits = self.to.strip_prefix('+').unwrap_or_default();
        if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CarrierError::Invalid {
                field: "to",
                problem: "not an E.164 number",
            });
        }
        if self.ring_timeout < MIN_RING {
            return Err(CarrierError::Invalid {
                field: "ring_timeout",
                problem: "shorter than the 15 s minimum ring",
            });
        }
        Ok(())
    }
}

/// A prerecorded message played before hanging up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// The safe-harbor message of an abandoned call: who called and a number to decline
    /// further calls (UK-OFCOM-01; US-TCPA-01 where it applies).
    SafeHarbor { template: String },
    /// A limited-content voicemail message (US-REGF-13).
    Voicemail { template: String },
}

/// A command the carrier cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    #[error("call {0} is not in progress")]
    UnknownCall(CallId),
    #[error("call {0} already exists")]
    DuplicateCall(CallId),
    #[error("call {call}: ringing for {rang:?}, calls may not be cancelled before {MIN_RING:?}")]
    TooEarlyToCancel { call: CallId, rang: Duration },
    #[error("call {0} is not answered by a human")]
    NotAnswered(CallId),
    #[error("invalid {field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: &'static str,
    },
    #[error("carrier unavailable: {0}")]
    Unavailable(String),
}

/// A telephone network the dialer can place calls on.
pub trait Carrier: Send + Sync {
    /// Starts a call; its progress arrives as events.
    fn originate(&self, call: Originate) -> Result<(), CarrierError>;
    /// Connects a human-answered call to an agent's endpoint.
    fn bridge(&self, call: CallId, agent: &str) -> Result<(), CarrierError>;
    /// Hangs up a picked-up call, after playing `prompt` when given.
    fn hangup(&self, call: CallId, prompt: Option<Prompt>) -> Result<(), CarrierError>;
    /// Stops a call that is still ringing; refused before [`MIN_RING`].
    fn cancel(&self, call: CallId) -> Result<(), CarrierError>;
    /// An agent logged in at `endpoint`: a network that keeps a nailed-up leg to each
    /// agent's softphone calls it now, so a bridge later is only a change of media path.
    fn agent_login(&self, _endpoint: &str) {}
    /// The agent at `endpoint` logged out: its leg, if any, is hung up.
    fn agent_logout(&self, _endpoint: &str) {}
}

/// Where each campaign gets its carrier: one per campaign, so each has its own event
/// channel (the engine is one event loop per campaign).
pub trait Network: Send + Sync + 'static {
    /// A carrier for `campaign` and the channel its events arrive on.
    fn open(&self, campaign: &str) -> (Arc<dyn Carrier>, Events);
}
