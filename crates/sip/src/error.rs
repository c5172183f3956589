//! The one error every SIP parser in this crate returns: what kind of fault, in which element,
//! on which line. The transaction layer picks its answer from the kind (400, 505, 513) and
//! logs the rest, so the text names the field and the line a person would look for.

use std::fmt;

/// What kind of fault a [`ParseError`] is; the transaction layer answers a request by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Nothing but CRLFs (a keep-alive): drop it silently.
    Empty,
    /// The bytes break the grammar (answer 400).
    Malformed,
    /// A header every message must carry is absent (answer 400).
    Missing,
    /// A number past its range: CSeq at or above 2^31, a status code past 699, a port past
    /// 65535 (answer 400).
    OutOfRange,
    /// Not SIP/2.0 (answer 505).
    Version,
    /// Past the 64 KiB message limit (answer 513).
    TooLarge,
    /// Past the 256 header limit (answer 513).
    TooManyHeaders,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Empty => "empty message",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Missing => "missing",
            ErrorKind::OutOfRange => "out of range",
            ErrorKind::Version => "unsupported version",
            ErrorKind::TooLarge => "too large",
            ErrorKind::TooManyHeaders => "too many headers",
        }
    }
}

/// Why some bytes are not a SIP message (or a URI, Via, name-addr, challenge...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub kind: ErrorKind,
    /// The element at fault: a header name, `start line`, `uri`, `body`...
    pub field: String,
    /// The line of the message (1 = the start line) when the fault is in a message.
    pub line: Option<usize>,
    /// What is wrong, in words.
    pub detail: String,
}

impl ParseError {
    pub(crate) fn new(
        kind: ErrorKind,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        ParseError {
            kind,
            field: field.into(),
            line: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn malformed(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, field, detail)
    }

    /// The same fault, found inside `field` at `line` of a message: the inner element's
    /// name moves into the detail so nothing is lost.
    pub(crate) fn within(self, field: &str, line: Option<usize>) -> Self {
        let detail = if self.field.is_empty() || self.field == field {
            self.detail
        } else {
            format!("{}: {}", self.field, self.detail)
        };
        ParseError {
            kind: self.kind,
            field: field.to_string(),
            line: line.or(self.line),
            detail,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.describe(), self.field)?;
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}
