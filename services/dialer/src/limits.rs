//! Every bound dialerd puts on what it is sent, in one place, so the checks (the campaign's
//! [`crate::campaign::CampaignSpec::validate`] and the gRPC edge in [`crate::grpc::convert`]),
//! `dialer.proto`'s comments and docs/dialer-service.md name the same numbers. Ids and money
//! the dialer passes on to the ledger have the ledger's bounds ([`ledger_api::limits`]). Free text
//! is counted in characters (as the proto says), ids in bytes; together with the repeated-field
//! bounds they keep every request well inside [`collections_proto::MAX_MESSAGE_BYTES`] (the
//! largest, an `AddAccounts` of 100,000 ids at the id bound, is checked against it).

pub use ledger_api::limits::{ID_BYTES, MAX_DEBTS, MAX_MINOR, PAGE_TOKEN_BYTES};

/// Campaign ids: 1 to 64 letters, digits, '-' or '_'.
pub const CAMPAIGN_ID_BYTES: usize = 64;
/// A campaign's display name.
pub const NAME_CHARS: usize = 200;
/// The safe-harbor and voicemail templates.
pub const TEMPLATE_CHARS: usize = 1000;
/// The agent script.
pub const SCRIPT_CHARS: usize = 20_000;
/// The mini-Miranda disclosure.
pub const MINI_MIRANDA_CHARS: usize = 2000;
/// A softphone's endpoint (SIP URI).
pub const ENDPOINT_CHARS: usize = 256;
/// A pause code.
pub const PAUSE_CODE_CHARS: usize = 64;
/// A disposition's notes.
pub const NOTES_CHARS: usize = 4000;

/// Most installments of a payment plan disposition (the ledger's bound).
pub const MAX_PLAN_INSTALLMENTS: usize = 60;

/// Largest grace period of a plan, in days (the receivables engine's bound).
pub const MAX_GRACE_DAYS: u32 = 3650;
/// Account ids in one `AddAccounts` (and accounts one filter request adds).
pub const MAX_ACCOUNTS_PER_ADD: usize = crate::registry::MAX_ACCOUNTS_PER_ADD;
/// Rule pack ids in a campaign's selection (each at most once, and known).
pub const MAX_PACK_IDS: usize = 64;
/// A campaign's last-dial margin, minutes.
pub const MAX_LAST_DIAL_MARGIN_MINUTES: u32 = 180;
/// A recycling delay, minutes (90 days).
pub const MAX_RECYCLE_MINUTES: u32 = 129_600;
/// A ranking weight's magnitude.
pub const MAX_RANKING_WEIGHT: f64 = 100.0;
/// The predictive pacer's `min_handle_samples`.
pub const MAX_MIN_HANDLE_SAMPLES: u32 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;
    use collections_proto::dialer_v1 as pb;
    use prost::Message;

    #[test]
    fn the_largest_add_accounts_fits_in_one_message() {
        let ids = vec!["x".repeat(ID_BYTES); MAX_ACCOUNTS_PER_ADD];
        let req = pb::AddAccountsRequest {
            campaign_id: "c".repeat(CAMPAIGN_ID_BYTES),
            account_ids: ids.clone(),
            filter: None,
            page_token: String::new(),
        };
        assert!(req.encoded_len() < collections_proto::MAX_MESSAGE_BYTES);
        // Its answer, every id unknown, too.
        let resp = pb::AddAccountsResponse {
            not_found: ids,
            ..Default::default()
        };
        assert!(resp.encoded_len() < collections_proto::MAX_MESSAGE_BYTES);
    }
}
