//! The gRPC edge of dialerd: `collections.dialer.v1` services over the [`Registry`]. Each
//! handler turns protobuf into domain types, calls the registry or the engine, and maps the
//! answer back. No domain logic lives here. Who may call what is [`roles`] (enforced by the
//! server's `auth::RoleLayer`); every error answered is mapped in [`status`].

pub mod agents;
pub mod campaigns;
pub mod compliance;
pub mod convert;
pub mod roles;
pub mod status;

pub use agents::AgentGrpc;
pub use campaigns::CampaignGrpc;
pub use compliance::ComplianceGrpc;

use crate::registry::Registry;

/// `Registry` is only ever shared behind an `Arc`.
type Shared<B> = std::sync::Arc<Registry<B>>;

/// Resolves once the server's stream-stop signal turns true. (A function, so the watch guard
/// `wait_for` returns is dropped inside it and never held across an await of a stream task.)
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
