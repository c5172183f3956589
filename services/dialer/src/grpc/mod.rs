//! The gRPC edge of dialerd: `collections.dialer.v1` services over the [`Registry`]. Each
//! handler turns protobuf into domain types (INVALID_ARGUMENT naming the field on bad input),
//! calls the registry or the engine, and maps the answer back. No domain logic lives here.
//! Who may call what is [`roles`] (enforced by the server's `auth::RoleLayer`).

pub mod agents;
pub mod campaigns;
pub mod compliance;
pub mod convert;
pub mod roles;

pub use agents::AgentGrpc;
pub use campaigns::CampaignGrpc;
pub use compliance::ComplianceGrpc;

use tonic::Status;
use tracing::error;

use crate::registry::{Registry, RegistryError};

/// The gRPC status of a registry failure. Database details are logged, not returned.
pub fn status(e: RegistryError) -> Status {
    match e {
        RegistryError::NotFound(id) => {
            Status::not_found(format!("campaign_id: campaign {id} not found"))
        }
        RegistryError::AlreadyExists(id) => Status::already_exists(format!(
            "campaign.campaign_id: campaign {id} already exists"
        )),
        RegistryError::Invalid(e) => {
            let field = if e.field == "id" {
                "campaign_id"
            } else {
                e.field
            };
            Status::invalid_argument(format!("campaign.{field}: {}", e.problem))
        }
        RegistryError::FailedPrecondition(m) => Status::failed_precondition(m),
        RegistryError::Draining => Status::unavailable("the dialer is shutting down"),
        RegistryError::Unimplemented(m) => Status::unimplemented(m),
        RegistryError::Unavailable(m) => Status::unavailable(m),
        RegistryError::Store(e) => {
            error!(error = %e, "campaign store failed");
            Status::unavailable("campaign store unavailable")
        }
    }
}

/// `Registry` is only ever shared behind an `Arc`.
type Shared<B> = std::sync::Arc<Registry<B>>;

/// Resolves once the server's stream-stop signal turns true. (A function, so the watch guard
/// `wait_for` returns is dropped inside it and never held across an await of a stream task.)
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
