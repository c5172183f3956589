//! Every error the ledger's gRPC edge answers, mapped here and nowhere else: store errors to
//! statuses (database details are logged, not returned), bad fields to INVALID_ARGUMENT naming
//! the field (`field: problem`), and the per-record errors of the batch RPCs.

use ledger_api::domain::ValidationError;
use ledger_api::pb;
use tonic::Status;

use crate::store::StoreError;

/// The status of a failed store call.
pub fn status(e: StoreError) -> Status {
    match e {
        StoreError::Invalid(v) => invalid(v),
        StoreError::NotFound { field, id } => Status::not_found(format!("{field} not found: {id}")),
        refused @ StoreError::Refused { .. } => Status::invalid_argument(refused.to_string()),
        fenced @ StoreError::Fenced { .. } => Status::failed_precondition(fenced.to_string()),
        split @ StoreError::ConsumerPayment(_) => Status::invalid_argument(split.to_string()),
        StoreError::Db(e) => {
            tracing::error!(error = %e, "database error");
            Status::unavailable("database unavailable")
        }
        other => {
            tracing::error!(error = %other, "store error");
            Status::internal("internal error")
        }
    }
}

/// INVALID_ARGUMENT for a field the domain's validation refused.
pub fn invalid(e: ValidationError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// INVALID_ARGUMENT naming `field`, for the checks the edge makes itself.
pub fn bad_field(field: impl std::fmt::Display, problem: &str) -> Status {
    Status::invalid_argument(format!("{field}: {problem}"))
}

/// An ingest task that panicked or was cancelled: the stream ends, the client resends.
pub fn ingest_failed(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("ingest task: {e}"))
}

/// One record's refusal in a batch answer (`code` is a gRPC code name).
pub fn record_error(code: &str, field: &str, message: &str) -> pb::RecordError {
    pb::RecordError {
        code: code.to_owned(),
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// A record whose field the domain's validation refused.
pub fn invalid_record(e: &ValidationError) -> pb::RecordError {
    record_error("INVALID_ARGUMENT", &e.field, &e.message)
}

/// A record the store refused, coded as [`status`] would answer it.
pub fn store_record_error(e: &StoreError) -> pb::RecordError {
    match e {
        StoreError::Invalid(v) => invalid_record(v),
        StoreError::NotFound { field, id } => {
            record_error("NOT_FOUND", field, &format!("not found: {id}"))
        }
        fenced @ StoreError::Fenced { .. } => record_error(
            "FAILED_PRECONDITION",
            ledger_api::domain::FENCE_FIELD,
            &fenced.to_string(),
        ),
        StoreError::Db(_) => record_error("UNAVAILABLE", "", "database unavailable"),
        _ => record_error("INTERNAL", "", "internal error"),
    }
}
