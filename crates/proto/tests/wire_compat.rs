//! The bytes of the messages that carry the types both contracts share (phone kinds, outcome
//! kinds, dial modes, account filters), pinned: a client built against any version of the
//! contract sends and reads exactly these, whichever package the types are declared in. They
//! were pinned while the types were `collections.ledger.v1`'s (and `AccountFilter` also
//! `collections.dialer.v1`'s), and hold since they moved to `collections.common.v1`.

use collections_proto::common_v1::{AccountFilter, DialMode, OutcomeKind, PhoneKind};
use collections_proto::dialer_v1 as dialer;
use collections_proto::ledger_v1 as ledger;
use prost::Message;

/// Encodes to `golden` and decodes from it back to the same value.
fn pinned<M: Message + Default + PartialEq + std::fmt::Debug>(m: M, golden: &[u8]) {
    assert_eq!(m.encode_to_vec(), golden, "{m:?}");
    assert_eq!(M::decode(golden).expect("decodes"), m);
}

fn filter() -> AccountFilter {
    AccountFilter {
        creditor: "Bank".into(),
        min_balance_minor: Some(100),
        max_balance_minor: Some(0),
        min_days_past_due: Some(30),
        max_days_past_due: Some(90),
        has_phone: Some(false),
    }
}

/// `filter()` on the wire (explicit presence: the zeros and `false` are sent).
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
            filter: Some(filter()),
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
            filter: Some(filter()),
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

/// Reflection serves the shared package (`grpcurl describe collections.common.v1.PhoneKind`),
/// and both contracts import it; the dialer's no longer imports the ledger's.
#[test]
fn the_descriptor_set_holds_the_common_package() {
    let set = prost_types::FileDescriptorSet::decode(collections_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set");
    let file = |name: &str| {
        set.file
            .iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("{name} in the descriptor set"))
    };
    let common = file("collections/common/v1/common.proto");
    assert_eq!(common.package(), "collections.common.v1");
    let enums: Vec<&str> = common.enum_type.iter().map(|e| e.name()).collect();
    assert_eq!(enums, ["PhoneKind", "OutcomeKind", "DialMode"]);
    let messages: Vec<&str> = common.message_type.iter().map(|m| m.name()).collect();
    assert_eq!(messages, ["AccountFilter"]);
    for name in [
        "collections/ledger/v1/ledger.proto",
        "collections/dialer/v1/dialer.proto",
    ] {
        let f = file(name);
        assert!(
            f.dependency
                .iter()
                .any(|d| d == "collections/common/v1/common.proto"),
            "{name} imports common.proto"
        );
        let own: Vec<&str> = f
            .enum_type
            .iter()
            .map(|e| e.name())
            .chain(f.message_type.iter().map(|m| m.name()))
            .collect();
        for moved in enums.iter().chain(&messages) {
            assert!(!own.contains(moved), "{name} declares {moved} again");
        }
    }
    assert!(
        !file("collections/dialer/v1/dialer.proto")
            .dependency
            .iter()
            .any(|d| d.contains("ledger")),
        "the dialer's contract does not import the ledger's"
    );
}
