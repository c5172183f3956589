//! The JSON Lines event file of issue 12 (`dialerctl ledger replay --events FILE.jsonl`, the
//! import RPC's batches): one event object per line, read all-or-nothing.
//!
//! A refusal names the 1-based line and the field (`line 3: amount_minor must be
//! positive`), whether the line is malformed on its own or conflicts with the lines (or the
//! book) before it. Blank lines are skipped but counted; CRLF line ends and a leading
//! byte-order mark are accepted.

use std::collections::HashMap;

use crate::book::{Book, ImportSummary};
use crate::consumer::{
    ConsumerPayment, ConsumerPaymentError, PaymentSplit, apply_consumer_payment,
};
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

/// One line of an event file that may hold consumer payments (`"type":
/// "consumer_payment"`, an extension read by `dialerctl ledger replay`; see
/// [`crate::consumer`]): an event of one account, or one payment split over several debts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Event(Event),
    ConsumerPayment(ConsumerPayment),
}

/// A refused line of a file with consumer payments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct MixedLineError {
    /// 1-based line number in the file.
    pub line: usize,
    pub error: ConsumerPaymentError,
}

/// [`parse`], with `consumer_payment` lines read as [`ConsumerPayment`]s.
pub fn parse_mixed(text: &str) -> Result<Vec<(usize, Line)>, MixedLineError> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let fail = |error: ConsumerPaymentError| MixedLineError { line, error };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| fail(EventError::NotJson(e.to_string()).into()))?;
        let parsed = if crate::consumer::is_consumer_payment(&value) {
            Line::ConsumerPayment(ConsumerPayment::from_value(&value).map_err(fail)?)
        } else {
            Line::Event(Event::from_value(&value).map_err(|e| fail(e.into()))?)
        };
        out.push((line, parsed));
    }
    Ok(out)
}

/// A new book of a file with consumer payments, in file order: each run of events imported
/// as one batch, each consumer payment split against the book as it stands at its line. A
/// consumer payment id seen before with the same content is skipped (its split repeated);
/// with another content refused, like the ledger's `ApplyConsumerPayment`. Returns the
/// splits in file order.
pub fn load_mixed(text: &str) -> Result<(Book, Vec<(String, PaymentSplit)>), MixedLineError> {
    let lines = parse_mixed(text)?;
    let mut book = Book::new();
    let mut splits: Vec<(String, PaymentSplit)> = Vec::new();
    let mut seen: HashMap<String, (ConsumerPayment, PaymentSplit)> = HashMap::new();
    let mut run: Vec<(usize, Event)> = Vec::new();
    let flush = |book: &mut Book, run: &mut Vec<(usize, Event)>| {
        let batch = std::mem::take(run);
        let lines: Vec<usize> = batch.iter().map(|(l, _)| *l).collect();
        book.import(batch.into_iter().map(|(_, e)| e))
            .map(|_| ())
            .map_err(|e| MixedLineError {
                line: lines.get(e.index).copied().unwrap_or(0),
                error: e.error.into(),
            })
    };
    for (line, parsed) in lines {
        match parsed {
            Line::Event(e) => run.push((line, e)),
            Line::ConsumerPayment(p) => {
                flush(&mut book, &mut run)?;
                let split = match seen.get(&p.id) {
                    Some((before, split)) => match before.differing_field(&p) {
                        None => split.clone(),
                        Some(field) => {
                            return Err(MixedLineError {
                                line,
                                error: ConsumerPaymentError::Conflict {
                                    field,
                                    id: p.id.clone(),
                                },
                            });
                        }
                    },
                    None => {
                        let split = apply_consumer_payment(&mut book, &p)
                            .map_err(|error| MixedLineError { line, error })?;
                        seen.insert(p.id.clone(), (p.clone(), split.clone()));
                        split
                    }
                };
                splits.push((p.id, split));
            }
        }
    }
    flush(&mut book, &mut run)?;
    Ok((book, splits))
}
