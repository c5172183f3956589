//! The JSON Lines event file of issue 12 (`dialerctl ledger replay --events FILE.jsonl`, the
//! import RPC's batches): one event object per line, read all-or-nothing.
//!
//! A refusal names the 1-based line and the field (`line 3: amount_minor must be
//! positive`), whether the line is malformed on its own or conflicts with the lines (or the
//! book) before it. Blank lines are skipped but counted; CRLF line ends and a leading
//! byte-order mark are accepted.

use crate::book::{Book, ImportSummary};
use crate::event::{Event, EventError};

/// A refused file: the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: usize,
    pub error: EventError,
}

/// Parses every line and checks each event on its own; returns the events with their line
/// numbers. References and ids are checked by [`import`].
pub fn parse(text: &str) -> Result<Vec<(usize, Event)>, LineError> {
    let mut events = Vec::new();
    // A byte-order mark (spreadsheet exports) is not part of the first object.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| LineError {
            line,
            error: EventError::NotJson(e.to_string()),
        })?;
        let event = Event::from_value(&value).map_err(|error| LineError { line, error })?;
        events.push((line, event));
    }
    Ok(events)
}

/// Imports a whole file into `book`, all-or-nothing: on error the book is unchanged.
pub fn import(book: &mut Book, text: &str) -> Result<ImportSummary, LineError> {
    let events = parse(text)?;
    let lines: Vec<usize> = events.iter().map(|(line, _)| *line).collect();
    book.import(events.into_iter().map(|(_, e)| e))
        .map_err(|e| LineError {
            line: lines.get(e.index).copied().unwrap_or(0),
            error: e.error,
        })
}

/// A new book holding the file's events.
pub fn load(text: &str) -> Result<Book, LineError> {
    let mut book = Book::new();
    import(&mut book, text)?;
    Ok(book)
}
