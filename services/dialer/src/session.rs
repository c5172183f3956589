//! What an agent's softphone and the campaign engine say to each other: commands from the
//! agent, events to the agent, the screen pop and the disposition. Plain types; the gRPC
//! `AgentService.Session` stream and the simulated agents both speak them.

use carrier::{CallId, EndCause};
use compliance::model::Outcome;
use serde::{Deserialize, Serialize};

/// An agent's login name (the JWT `sub` of its token in the service).
pub type AgentId = String;

/// What an agent asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    Ready,
    /// Takes no calls until `Ready`; `code` says why (break, training, ...). During a call
    /// it applies once the call is dispositioned.
    NotReady {
        code: String,
    },
    /// Preview mode: dial the offered account now.
    Accept {
        call: CallId,
    },
    /// Preview mode: pass on the offered account (it returns to the queue).
    Skip {
        call: CallId,
    },
    /// Ends the agent's connected call.
    Hangup {
        call: CallId,
    },
    Disposition {
        call: CallId,
        disposition: Disposition,
    },
    /// Dial an account by hand. Goes through compliance like every call; `number` empty
    /// means the account's first callable phone, `debt_ids` empty means every open debt.
    ManualDial {
        account_id: String,
        number: Option<String>,
        debt_ids: Vec<String>,
    },
    Logout,
}

/// Where an agent is, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatState {
    LoggedOut,
    NotReady {
        code: String,
    },
    Ready,
    /// A call is being offered (preview) or dialed for this agent (preview, manual).
    Reserved,
    OnCall,
    WrapUp,
}

/// What the engine tells an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The agent's state changed (also the answer to Ready / NotReady / login).
    State { state: SeatState },
    /// A call for this agent: a live answer being bridged (`preview` false) or, in preview
    /// mode, an account to accept or skip.
    Offered {
        call: CallId,
        pop: Box<ScreenPop>,
        preview: bool,
    },
    /// The call is connected to the agent's endpoint.
    Connected { call: CallId },
    /// The call is over; disposition it before `wrap_deadline_ms` (Unix ms).
    Ended {
        call: CallId,
        cause: EndCause,
        wrap_deadline_ms: i64,
    },
    /// A manual dial (or preview accept) the rules refused, with the reasons and when it
    /// becomes possible.
    Refused {
        account_id: String,
        reasons: Vec<String>,
        next_eligible_ms: Option<i64>,
    },
    /// The call's disposition and everything it asked for (holds, promise, consent) are
    /// durable: nothing of it is lost if the dialer stops now.
    DispositionSaved { call: CallId },
    /// A command that could not be applied (the session goes on).
    Rejected {
        command: String,
        rejection: Rejection,
    },
}

/// Why the engine could not apply a command: the kind sets the softphone's rejection code, the
/// reason is the text it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectKind,
    pub reason: String,
}

/// What kind of refusal a [`Rejection`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// A field of the command is wrong; the reason starts with the field's name.
    Invalid,
    /// The call or account the command names does not exist (any more).
    NotFound,
    /// The call is another agent's.
    NotYours,
    /// Not possible in the seat's or the call's present state.
    NotNow,
}

impl Rejection {
    /// A wrong field: the reason reads `field: problem`.
    pub fn field(field: impl std::fmt::Display, problem: impl std::fmt::Display) -> Rejection {
        Rejection {
            kind: RejectKind::Invalid,
            reason: format!("{field}: {problem}"),
        }
    }

    pub fn not_found(reason: impl Into<String>) -> Rejection {
        Rejection {
            kind: RejectKind::NotFound,
            reason: reason.into(),
        }
    }

    pub fn not_yours() -> Rejection {
        Rejection {
            kind: RejectKind::NotYours,
            reason: "not your call".into(),
        }
    }

    pub fn not_now(reason: impl Into<String>) -> Rejection {
        Rejection {
            kind: RejectKind::NotNow,
            reason: reason.into(),
        }
    }
}

/// Everything the agent sees when a call arrives.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScreenPop {
    pub account_id: String,
    pub person_id: String,
    pub name: String,
    /// The number called (the agent's own call: shown unredacted to the agent only).
    pub number: String,
    pub creditor: String,
    pub debts: Vec<DebtLine>,
    /// The debts this call is about.
    pub call_debt_ids: Vec<String>,
    /// Most recent first, at most 10.
    pub last_contacts: Vec<ContactLine>,
    pub promises: Vec<PromiseLine>,
    /// E.g. "consent for automated calls: none", "Reg F: 3 of 7 calls left on d1 this week".
    pub compliance_notes: Vec<String>,
    pub script: String,
    pub mini_miranda: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DebtLine {
    pub debt_id: String,
    pub balance_minor: i64,
    pub currency: String,
    pub days_past_due: i32,
    pub original_creditor: String,
    /// Calls still allowed this week under US-REGF-08.
    pub regf_calls_left: u32,
    /// The ledger's statement summary of the debt (all empty without money events).
    pub statement: StatementLine,
}

/// A debt's statement summary as the agent sees it, from the ledger's receivables: dates
/// `YYYY-MM-DD` (empty: none), statuses the receivables engine's names.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatementLine {
    pub open_minor: i64,
    pub past_due_minor: i64,
    /// `current`, `1_30`, ... `121_plus`; empty when nothing is open.
    pub oldest_bucket: String,
    pub last_payment_date: String,
    pub last_payment_minor: i64,
    /// The latest promise: `pending`, `kept`, `broken`, `superseded`.
    pub promise_status: String,
    pub promise_due: String,
    /// `active`, `completed`, `broken`, `replaced`.
    pub plan_status: String,
    pub in_dispute: bool,
}

impl StatementLine {
    /// The summary of a debt's receivables, as the ledger sent it.
    pub fn of(r: &ledger_api::domain::DebtReceivables) -> StatementLine {
        let date = |d: Option<jiff::civil::Date>| d.map(|d| d.to_string()).unwrap_or_default();
        StatementLine {
            open_minor: r.open_minor,
            past_due_minor: r.past_due_minor,
            oldest_bucket: r.oldest_bucket.clone(),
            last_payment_date: date(r.last_payment_date),
            last_payment_minor: r.last_payment_minor,
            promise_status: r.promise_status.clone(),
            promise_due: date(r.promise_due),
            plan_status: r.plan_status.clone(),
            in_dispute: r.in_dispute,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactLine {
    pub at_ms: i64,
    pub outcome: Outcome,
    pub disposition: String,
    pub agent_id: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromiseLine {
    pub debt_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub due_date: String,
    pub status: String,
}

/// What the agent says happened on a connected call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Disposition {
    pub code: DispositionCode,
    /// Debts actually discussed (a conversation counts for each); empty: every debt of the
    /// call.
    pub debts_discussed: Vec<String>,
    /// For `PromiseToPay`.
    pub promise: Option<PromiseTerms>,
    /// For `PaymentPlan` (boxed: a call's state carries its disposition, most without one).
    pub plan: Option<Box<PlanTerms>>,
    /// For `Callback`: when the consumer asked to be called (Unix ms).
    pub callback_at_ms: Option<i64>,
    /// Free text; kept with the outcome, never logged.
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PromiseTerms {
    pub debt_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `YYYY-MM-DD`, the consumer's local date.
    pub due_date: String,
}

/// A payment plan taken on a call: installments on one debt of the call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanTerms {
    pub debt_id: String,
    /// Due dates (`YYYY-MM-DD`, strictly increasing) and amounts in minor units.
    pub installments: Vec<InstallmentTerms>,
    /// Days after each due date a payment still counts for it.
    pub grace_days: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstallmentTerms {
    pub due: String,
    pub amount_minor: i64,
}

/// The structured result of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispositionCode {
    /// Talked with the consumer about the debt.
    #[default]
    RightPartyContact,
    PromiseToPay,
    /// The consumer asked to be called back at a given time.
    Callback,
    /// The consumer disputes the debt (verification pending: calls stop on it).
    Dispute,
    /// The consumer asked us to stop calling (a cease on the debts of the call).
    CeaseRequest,
    /// The consumer is represented by an attorney (calls stop on the debts of the call).
    Attorney,
    /// The number is not the consumer's: it is retired.
    WrongNumber,
    /// The consumer refused to pay.
    Refused,
    /// Somebody else answered; no debt was mentioned.
    ThirdParty,
    /// Answered but no conversation (hung up at once, silence).
    NoContact,
    /// An answering machine the detector passed to the agent.
    Machine,
    /// The consumer revoked consent to automated calls on the number called (US-TCPA-05).
    RevokeConsent,
    /// The consumer agreed to a payment plan (a receivables `plan` event in the ledger).
    PaymentPlan,
}

impl DispositionCode {
    /// The short code recorded in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            DispositionCode::RightPartyContact => "RPC",
            DispositionCode::PromiseToPay => "PTP",
            DispositionCode::Callback => "CALLBACK",
            DispositionCode::Dispute => "DISPUTE",
            DispositionCode::CeaseRequest => "CEASE",
            DispositionCode::Attorney => "ATTORNEY",
            DispositionCode::WrongNumber => "WRONG_NUMBER",
            DispositionCode::Refused => "REFUSED",
            DispositionCode::ThirdParty => "THIRD_PARTY",
            DispositionCode::NoContact => "NO_CONTACT",
            DispositionCode::Machine => "MACHINE",
            DispositionCode::RevokeConsent => "REVOKE_CONSENT",
            DispositionCode::PaymentPlan => "PLAN",
        }
    }

    /// The contact outcome it makes for the ledger and the rules.
    pub fn outcome(self) -> Outcome {
        match self {
            DispositionCode::WrongNumber => Outcome::WrongParty,
            DispositionCode::ThirdParty | DispositionCode::NoContact => Outcome::Answered,
            DispositionCode::Machine => Outcome::Machine,
            _ => Outcome::Conversation,
        }
    }

    /// A conversation with the right party (for the right-party-contact figures).
    pub fn is_rpc(self) -> bool {
        self.outcome() == Outcome::Conversation
    }
}
