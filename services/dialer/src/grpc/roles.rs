//! Who may call each `collections.dialer.v1` method (admin may call every one): the table the
//! server's `auth::RoleLayer` enforces, so the handlers carry no role checks. Which call an
//! agent may touch is data, checked by the engine, not here.

use auth::{Role, RoleTable};

const MANAGER: &[Role] = &[Role::Manager];

/// `dialer` is the dialer's identity toward the ledger and may call nothing here.
pub const ROLES: RoleTable = RoleTable::new(&[
    (
        "/collections.dialer.v1.CampaignService/CreateCampaign",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/UpdateCampaign",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/GetCampaign",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/ListCampaigns",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/StartCampaign",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/PauseCampaign",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/ResumeCampaign",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/StopCampaign",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/AddAccounts",
        MANAGER,
    ),
    (
        "/collections.dialer.v1.CampaignService/WatchCampaign",
        MANAGER,
    ),
    ("/collections.dialer.v1.CampaignService/ListAgents", MANAGER),
    (
        "/collections.dialer.v1.AgentService/Session",
        &[Role::Agent],
    ),
    (
        "/collections.dialer.v1.ComplianceService/Explain",
        &[Role::Manager, Role::Crm],
    ),
]);

#[test]
fn the_table_lists_every_rpc_of_the_protos_once() {
    let rpcs = collections_proto::rpc_paths("collections.dialer.v1");
    assert_eq!(ROLES.mismatches(&rpcs), Vec::<String>::new());
}
