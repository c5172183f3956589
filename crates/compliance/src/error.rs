//! Input the engine cannot evaluate. It names the offending field, so a gRPC edge can answer
//! INVALID_ARGUMENT with it and the batch CLI can print it beside the case id.

/// A request field that is malformed or inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InputError {
    /// Path of the field, e.g. `consumer.phones[1].number`.
    pub field: String,
    pub problem: String,
}

impl InputError {
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> InputError {
        InputError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}
