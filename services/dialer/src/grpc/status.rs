//! Every error dialerd's gRPC edge answers, mapped here and nowhere else: registry and
//! account-source failures (store details are logged, not returned), bad fields as
//! INVALID_ARGUMENT naming the field (`field: problem`), and the statuses that end a stream.

use tonic::Status;
use tracing::error;

use ledger_api::domain::ValidationError;

use crate::account::SourceError;
use crate::campaign::SpecError;
use crate::registry::RegistryError;

/// INVALID_ARGUMENT naming `field`.
pub fn invalid(field: impl std::fmt::Display, problem: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {problem}"))
}

/// A failed registry operation.
pub fn registry(e: RegistryError) -> Status {
    match e {
        RegistryError::NotFound(id) => {
            Status::not_found(format!("campaign_id: campaign {id} not found"))
        }
        RegistryError::AlreadyExists(id) => Status::already_exists(format!(
            "campaign.campaign_id: campaign {id} already exists"
        )),
        RegistryError::Invalid(e) => spec(e),
        RegistryError::FailedPrecondition(m) => Status::failed_precondition(m),
        RegistryError::Draining => shutting_down(),
        RegistryError::Unimplemented(m) => Status::unimplemented(m),
        RegistryError::Unavailable(m) => Status::unavailable(m),
        RegistryError::Store(e) => {
            error!(error = %e, "campaign store failed");
            Status::unavailable("campaign store unavailable")
        }
    }
}

/// A campaign configuration the domain refused, by the request field it came from.
pub fn spec(e: SpecError) -> Status {
    let field = if e.field == "id" {
        "campaign_id"
    } else {
        e.field
    };
    invalid(format_args!("campaign.{field}"), e.problem)
}

/// A field the ledger's contract refused (the same checks the ledger makes).
pub fn contract(e: ValidationError) -> Status {
    invalid(e.field, e.message)
}

/// An account the ledger could not give (an answer too large for a message is a bug here,
/// not an outage).
pub fn source(e: SourceError) -> Status {
    match e {
        SourceError::NotFound(id) => {
            Status::not_found(format!("account_id: account {id} not found"))
        }
        SourceError::Unavailable(m) if m.contains(crate::ledger_link::TOO_LARGE) => {
            Status::internal(m)
        }
        SourceError::Unavailable(_) => Status::unavailable("the ledger is unavailable"),
    }
}

/// The question the compliance engine could not evaluate, by the field it names.
pub fn compliance_input(e: compliance::InputError) -> Status {
    invalid(e.field, e.problem)
}

/// The dialer's clock is outside what a timestamp can say.
pub fn clock_out_of_range() -> Status {
    Status::internal("clock out of range")
}

/// New work and open streams once shutdown has begun.
pub fn shutting_down() -> Status {
    Status::unavailable("the dialer is shutting down")
}

/// An agent session on a campaign whose engine has ended.
pub fn campaign_stopped() -> Status {
    Status::failed_precondition("the campaign has stopped")
}

/// An agent session a newer login of the same agent took over.
pub fn replaced() -> Status {
    Status::aborted("replaced by a newer session of this agent on this campaign")
}

/// A login as someone other than the token's subject.
pub fn not_yourself() -> Status {
    Status::permission_denied(
        "login.agent_id: an agent may only log in as itself (the token's sub)",
    )
}

/// A second login on one session.
pub fn already_logged_in() -> Status {
    Status::failed_precondition("login: already logged in on this session")
}
