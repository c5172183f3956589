//! Who may call each LedgerService and ReceivablesService method (admin may call every one):
//! the table the server's `auth::RoleLayer` enforces, so the handlers carry no role checks.

use auth::{Role, RoleTable};

const CRM: &[Role] = &[Role::Crm];
const DIALER: &[Role] = &[Role::Dialer];
const CRM_OR_DIALER: &[Role] = &[Role::Crm, Role::Dialer];
const MANAGER: &[Role] = &[Role::Manager];

/// `agent` may call nothing here; `manager` (the dialer's campaign managers, the people
/// who live by the receivables KPIs) reads the receivables reports only.
pub const ROLES: RoleTable = RoleTable::new(&[
    ("/collections.ledger.v1.LedgerService/UpsertAccounts", CRM),
    (
        "/collections.ledger.v1.LedgerService/GetAccount",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/ListAccounts",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/RecordOutcomes",
        DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/GetContactHistory",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/ListOutcomes",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/WatchChanges",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/RecordPromise",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/RecordPaymentPlan",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/ListPromises",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/SetHold",
        CRM_OR_DIALER,
    ),
    (
        "/collections.ledger.v1.LedgerService/SetConsent",
        CRM_OR_DIALER,
    ),
    ("/collections.ledger.v1.LedgerService/CheckAccounts", DIALER),
    (
        "/collections.ledger.v1.LedgerService/GetAccountViews",
        CRM_OR_DIALER,
    ),
    // Issue 12: the CRM imports money events; managers read the reports.
    (
        "/collections.ledger.v1.ReceivablesService/ImportMoneyEvents",
        CRM,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/GetReceivablesReport",
        MANAGER,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/GetAccountStatement",
        MANAGER,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/GetAgingReport",
        MANAGER,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/ExportAgingCsv",
        MANAGER,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/GetKpiReport",
        MANAGER,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/GetCommitmentReport",
        MANAGER,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/ExportKpiCsv",
        MANAGER,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/ExportCommitmentCsv",
        MANAGER,
    ),
    (
        "/collections.ledger.v1.ReceivablesService/ApplyConsumerPayment",
        CRM,
    ),
]);

#[test]
fn the_table_lists_every_rpc_of_the_protos_once() {
    let rpcs = collections_proto::rpc_paths("collections.ledger.v1");
    assert_eq!(ROLES.mismatches(&rpcs), Vec::<String>::new());
}
