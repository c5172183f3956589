//! The bytes of the messages that carry the types both contracts share (phone kinds, outcome
//! kinds, dial modes, account filters), pinned: a client built against any version of the
//! contract sends and reads exactly these, whichever package the types are declared in.

use collections_proto::dialer_v1 as dialer;
use collections_proto::ledger_v1 as ledger;
use collections_proto::ledger_v1::{DialMode, OutcomeKind, PhoneKind};
use prost::Message;

/// Encodes to `golden` and decodes from it back to the same value.
fn pinned<M: Message + Default + PartialEq + std::fmt::Debug>(m: M, golden: &[u8]) {
    assert_eq!(m.encode_to_vec(), golden, "{m:?}");
    assert_eq!(M::decode(golden).expect("decodes"), m);
}

/// The same filter in either contract's declaration of it.
macro_rules! filter {
    ($($t:ident)::+) => {
        $($t)::+ {
            creditor: "Bank".into(),
            min_balance_minor: Some(100),
            max_balance_minor: Some(0),
            min_days_past_due: Some(30),
            max_days_past_due: Some(90),
            has_phone: Some(false),
        }
    };
}

/// `filter!` on the wire (explicit presence: the zeros and `false` are sent).
const FILTER: [u8; 16] = [
    0x0a, 0x04, b'B', b'a', b'n', b'k', 0x10, 0x64, 0x18, 0x00, 0x20, 0x1e, 0x28, 0x5a, 0x30, 0x00,
];

#[test]
fn account_filters_keep_their_bytes_in_both_contracts() {
    let mut golden = vec![0x0a, 0x10];
    golden.extend(FILTER);
    golden.extend([0x10, 0x02]);
    pinned(
        ledger::ListAccountsRequest {
            filter: Some(filter!(ledger::AccountFilter)),
            page_size: 2,
            page_token: String::new(),
        },
        &golden,
    );
    let mut golden = vec![0x0a, 0x02, b'c', b'1', 0x1a, 0x10];
    golden.extend(FILTER);
    pinned(
        dialer::AddAccountsRequest {
            campaign_id: "c1".into(),
            account_ids: vec![],
            filter: Some(filter!(dialer::AccountFilter)),
            page_token: String::new(),
        },
        &golden,
    );
}

#[test]
fn shared_enums_keep_their_numbers_in_both_contracts() {
    pinned(
        ledger::Phone {
            number: "+1".into(),
            kind: PhoneKind::Landline as i32,
            ..Default::default()
        },
        &[0x0a, 0x02, b'+', b'1', 0x10, 0x02],
    );
    pinned(
        ledger::ContactOutcome {
            dial_mode: DialMode::Power as i32,
            outcome: OutcomeKind::Machine as i32,
            ..Default::default()
        },
        &[0x40, 0x04, 0x48, 0x07],
    );
    pinned(
        dialer::Recycling {
            phone_order: vec![
                PhoneKind::Mobile as i32,
                PhoneKind::Voip as i32,
                PhoneKind::Work as i32,
            ],
            ..Default::default()
        },
        &[0x42, 0x03, 0x01, 0x04, 0x03],
    );
    pinned(
        dialer::ContactLine {
            outcome: OutcomeKind::Conversation as i32,
            ..Default::default()
        },
        &[0x10, 0x0a],
    );
    pinned(
        dialer::ExplainRequest {
            mode: DialMode::Manual as i32,
            ..Default::default()
        },
        &[0x30, 0x01],
    );
    pinned(
        dialer::Explanation {
            mode: DialMode::Prerecorded as i32,
            ..Default::default()
        },
        &[0x68, 0x06],
    );
}

/// JSON (grpcurl, proto3 JSON mapping) names enum values, not types: the names stay.
#[test]
fn shared_enum_value_names_stay() {
    let names = |all: &[(&str, i32)], name: fn(i32) -> Option<&'static str>| {
        for (want, v) in all {
            assert_eq!(name(*v), Some(*want));
        }
    };
    names(
        &[
            ("PHONE_KIND_UNSPECIFIED", 0),
            ("PHONE_KIND_MOBILE", 1),
            ("PHONE_KIND_LANDLINE", 2),
            ("PHONE_KIND_WORK", 3),
            ("PHONE_KIND_VOIP", 4),
            ("PHONE_KIND_UNKNOWN", 5),
        ],
        |v| PhoneKind::try_from(v).ok().map(|k| k.as_str_name()),
    );
    names(
        &[
            ("OUTCOME_KIND_UNSPECIFIED", 0),
            ("OUTCOME_KIND_BUSY", 1),
            ("OUTCOME_KIND_SIT", 2),
            ("OUTCOME_KIND_FAILED", 3),
            ("OUTCOME_KIND_NO_ANSWER", 4),
            ("OUTCOME_KIND_VOICEMAIL", 5),
            ("OUTCOME_KIND_LCM", 6),
            ("OUTCOME_KIND_MACHINE", 7),
            ("OUTCOME_KIND_ANSWERED", 8),
            ("OUTCOME_KIND_ABANDONED", 9),
            ("OUTCOME_KIND_CONVERSATION", 10),
            ("OUTCOME_KIND_WRONG_PARTY", 11),
        ],
        |v| OutcomeKind::try_from(v).ok().map(|k| k.as_str_name()),
    );
    names(
        &[
            ("DIAL_MODE_UNSPECIFIED", 0),
            ("DIAL_MODE_MANUAL", 1),
            ("DIAL_MODE_PREVIEW", 2),
            ("DIAL_MODE_PROGRESSIVE", 3),
            ("DIAL_MODE_POWER", 4),
            ("DIAL_MODE_PREDICTIVE", 5),
            ("DIAL_MODE_PRERECORDED", 6),
        ],
        |v| DialMode::try_from(v).ok().map(|k| k.as_str_name()),
    );
}
