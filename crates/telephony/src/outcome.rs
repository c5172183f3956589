//! From what SIP said to what the rules count: a failed INVITE's final status, its
//! `Reason: Q.850` cause and the early media heard give an [`OutcomeClass`], which maps to
//! the engine's [`EndCause`] (and so to US-REGF-10's counting table: busy, SIT and
//! never-connected calls are not counted attempts; rang-no-answer and declined are).
//!
//! Trunk trouble is its own class: the call never reached the dialed number's network, so it
//! moves to the next trunk and, if every trunk fails, ends as `Failed` (not counted).

use carrier::{EarlyMedia, EndCause};

/// What became of a call, in the words an operator checking a trunk uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeClass {
    /// Picked up (200 OK); the AMD verdict says by whom.
    Answered,
    Busy,
    /// Not in service, changed, bad format: SIT, 404, 410, 484, 604, Q.850 1/22/28.
    Invalid,
    /// Rang until our ring timeout, or the network gave up ringing (480, 408 from the far end,
    /// Q.850 18/19).
    NoAnswer,
    /// The called party rejected the call (603, Q.850 21).
    Declined,
    /// Refused for another reason (403, other 4xx): not a network fault, not the trunk's turn.
    Failed,
    /// The trunk could not carry the call (5xx, no response, Q.850 34/38/41/42/47): try the next.
    TrunkTrouble,
}

impl OutcomeClass {
    /// The name printed by `dialerctl test-call` and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Answered => "answered",
            OutcomeClass::Busy => "busy",
            OutcomeClass::Invalid => "invalid",
            OutcomeClass::NoAnswer => "no_answer",
            OutcomeClass::Declined => "declined",
            OutcomeClass::Failed => "failed",
            OutcomeClass::TrunkTrouble => "trunk_trouble",
        }
    }

    /// The engine's end cause for a call that ended with this class before being picked up.
    /// Declined counts like a ring with no answer: the phone rang (US-REGF-10).
    pub fn end_cause(self) -> EndCause {
        match self {
            OutcomeClass::Busy => EndCause::Busy,
            OutcomeClass::Invalid => EndCause::Sit,
            OutcomeClass::NoAnswer | OutcomeClass::Declined => EndCause::NoAnswer,
            OutcomeClass::Failed | OutcomeClass::TrunkTrouble => EndCause::Failed,
            OutcomeClass::Answered => EndCause::RemoteHangup,
        }
    }
}

/// Classifies a final failure response. The Q.850 cause, when given, is more precise than
/// the status (a 480 with cause 17 is busy); a SIT heard in early media makes any failure
/// an invalid number.
pub fn classify_failure(status: u16, q850: Option<u8>, early: Option<EarlyMedia>) -> OutcomeClass {
    if early == Some(EarlyMedia::Sit) {
        return OutcomeClass::Invalid;
    }
    if let Some(class) = q850.and_then(classify_q850) {
        return class;
    }
    match status {
        486 | 600 => OutcomeClass::Busy,
        404 | 410 | 484 | 485 | 604 => OutcomeClass::Invalid,
        408 | 480 | 487 => OutcomeClass::NoAnswer,
        603 => OutcomeClass::Declined,
        500 | 502 | 503 | 504 | 513 => OutcomeClass::TrunkTrouble,
        _ if early == Some(EarlyMedia::BusyTone) => OutcomeClass::Busy,
        _ => OutcomeClass::Failed,
    }
}

/// Q.850 causes that name the outcome on their own (ITU-T Q.850 table 1).
fn classify_q850(cause: u8) -> Option<OutcomeClass> {
    Some(match cause {
        17 => OutcomeClass::Busy,
        1 | 22 | 28 => OutcomeClass::Invalid,
        18 | 19 => OutcomeClass::NoAnswer,
        21 => OutcomeClass::Declined,
        // No circuit, network out of order, temporary failure, switching congestion,
        // resource unavailable.
        34 | 38 | 41 | 42 | 47 => OutcomeClass::TrunkTrouble,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_causes() {
        use OutcomeClass::*;
        let cases: &[(u16, Option<u8>, Option<EarlyMedia>, OutcomeClass)] = &[
            (486, None, None, Busy),
            (486, Some(17), None, Busy),
            (480, Some(17), None, Busy),
            (404, None, None, Invalid),
            (404, Some(1), None, Invalid),
            (500, None, Some(EarlyMedia::Sit), Invalid),
            (410, None, None, Invalid),
            (487, None, None, NoAnswer),
            (480, None, None, NoAnswer),
            (603, None, None, Declined),
            (403, Some(21), None, Declined),
            (503, None, None, TrunkTrouble),
            (503, Some(38), None, TrunkTrouble),
            (404, Some(38), None, TrunkTrouble),
            (403, None, None, Failed),
            (488, None, None, Failed),
            (400, None, Some(EarlyMedia::BusyTone), Busy),
        ];
        for &(status, q850, early, want) in cases {
            assert_eq!(
                classify_failure(status, q850, early),
                want,
                "{status} {q850:?}"
            );
        }
    }

    /// US-REGF-10: busy, SIT and never-connected calls are not counted; the engine counts by
    /// end cause, so these must map to the uncounted causes.
    #[test]
    fn uncounted_classes_map_to_uncounted_causes() {
        assert_eq!(OutcomeClass::Busy.end_cause(), EndCause::Busy);
        assert_eq!(OutcomeClass::Invalid.end_cause(), EndCause::Sit);
        assert_eq!(OutcomeClass::TrunkTrouble.end_cause(), EndCause::Failed);
        assert_eq!(OutcomeClass::Declined.end_cause(), EndCause::NoAnswer);
    }
}
