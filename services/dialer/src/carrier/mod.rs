//! The carrier seam: originate calls, learn how they go, bridge live answers to agents,
//! hang up (with a message), cancel ringing calls.
//!
//! Commands are synchronous and non-blocking (a real adapter queues them to its signalling
//! task); what happens on the network arrives as [`CarrierEvent`]s on one channel per
//! carrier, so the campaign engine is a single event loop whatever the network.

pub mod sim;

use std::time::Duration;

/// The engine's id of a call (also the attempt id recorded in the ledger).
pub type CallId = u64;

/// Rings shorter than this may not be cancelled (US-TCPA-02, UK-OFCOM-01).
pub const MIN_RING: Duration = Duration::from_secs(15);

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

/// Answering-machine detection's verdict on a picked-up call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Human,
    Machine,
}

/// Why a call ended.
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

/// What the network reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarrierEvent {
    /// Picked up; answering-machine detection is listening. The pacer counts the call as
    /// likely to need an agent within seconds.
    PickedUp { call: CallId },
    /// Picked up; AMD has decided. A human now waits for an agent: bridge or abandon
    /// (with the safe-harbor message) within 2 s.
    Answered { call: CallId, verdict: Verdict },
    /// Bridged to the agent's endpoint: the conversation is on.
    Bridged { call: CallId, agent: String },
    /// The call is over; nothing more will be reported for it.
    Ended { call: CallId, cause: EndCause },
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
}

/// Where each campaign gets its carrier: one per campaign, so each has its own event
/// channel (the engine is one event loop per campaign).
pub trait Network: Send + Sync + 'static {
    /// A carrier for `campaign` and the channel its events arrive on.
    fn open(
        &self,
        campaign: &str,
    ) -> (
        std::sync::Arc<dyn Carrier>,
        tokio::sync::mpsc::UnboundedReceiver<CarrierEvent>,
    );
}

/// The simulated network: a [`sim::SimCarrier`] per campaign, seeded from the campaign id so
/// two campaigns do not replay the same calls.
#[derive(Debug, Clone)]
pub struct SimNetwork {
    pub scenario: simulator::scenario::Scenario,
    pub seed: u64,
    /// Simulated seconds per real second.
    pub speed: f64,
}

impl Network for SimNetwork {
    fn open(
        &self,
        campaign: &str,
    ) -> (
        std::sync::Arc<dyn Carrier>,
        tokio::sync::mpsc::UnboundedReceiver<CarrierEvent>,
    ) {
        // FNV-1a: stable across runs and platforms (std's hasher is randomly keyed).
        let h = campaign.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let (carrier, events) =
            sim::SimCarrier::with_speed(self.scenario.clone(), self.seed ^ h, self.speed);
        (std::sync::Arc::new(carrier), events)
    }
}
