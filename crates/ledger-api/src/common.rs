//! [`common_pb`] (`collections.common.v1`: the types the ledger's and the dialer's contracts
//! share) <-> the domain, written once for both edges: the ledger's ([`crate::wire`] builds
//! on it) and the dialer's, and for their clients. Enums come in checked (`*_from`: an unknown
//! value is a [`ValidationError`] naming the field, UNSPECIFIED is `None` for the caller to
//! default or refuse) and go out as the wire's `i32` (`*_to`).

use crate::common_pb;
use crate::domain::{AccountFilter, DialMode, Outcome, PhoneKind, ValidationError};

type VResult<T> = Result<T, ValidationError>;

/// `$from(v, field)`: a protobuf enum value to the domain's (`None` for UNSPECIFIED), and
/// `$to(v)`: back. Each listed pair maps both ways; a domain variant left out does not compile.
macro_rules! enum_map {
    ($vis:vis $from:ident, $to:ident, $pb:ty, $dom:ty, { $($p:ident => $d:path),* $(,)? }) => {
        $vis fn $from(v: i32, field: &str) -> VResult<Option<$dom>> {
            match <$pb>::try_from(v) {
                Ok(<$pb>::Unspecified) => Ok(None),
                $(Ok(<$pb>::$p) => Ok(Some($d)),)*
                Err(_) => Err(ValidationError::new(field, format!("unknown enum value {v}"))),
            }
        }
        $vis fn $to(v: $dom) -> i32 {
            (match v {
                $($d => <$pb>::$p,)*
            }) as i32
        }
    };
}
pub(crate) use enum_map;

enum_map!(pub outcome_from, outcome_to, common_pb::OutcomeKind, Outcome, {
    Busy => Outcome::Busy, Sit => Outcome::Sit, Failed => Outcome::Failed,
    NoAnswer => Outcome::NoAnswer, Voicemail => Outcome::Voicemail, Lcm => Outcome::Lcm,
    Machine => Outcome::Machine, Answered => Outcome::Answered, Abandoned => Outcome::Abandoned,
    Conversation => Outcome::Conversation, WrongParty => Outcome::WrongParty,
});
enum_map!(pub dial_mode_from, dial_mode_to, common_pb::DialMode, DialMode, {
    Manual => DialMode::Manual, Preview => DialMode::Preview, Progressive => DialMode::Progressive,
    Power => DialMode::Power, Predictive => DialMode::Predictive, Prerecorded => DialMode::Prerecorded,
});
enum_map!(pub phone_kind_from, phone_kind_to, common_pb::PhoneKind, PhoneKind, {
    Mobile => PhoneKind::Mobile, Landline => PhoneKind::Landline, Work => PhoneKind::Work,
    Voip => PhoneKind::Voip, Unknown => PhoneKind::Unknown,
});

/// `$f`'s fields moved into a `$to`: the message and the domain type have the same ones.
macro_rules! account_filter {
    ($($to:ident)::+, $f:ident) => {
        $($to)::+ {
            creditor: $f.creditor,
            min_balance_minor: $f.min_balance_minor,
            max_balance_minor: $f.max_balance_minor,
            min_days_past_due: $f.min_days_past_due,
            max_days_past_due: $f.max_days_past_due,
            has_phone: $f.has_phone,
        }
    };
}

/// An account filter from the wire (the ledger's ListAccounts, the dialer's AddAccounts),
/// checked; `field` names the message in errors (e.g. `filter`).
pub fn account_filter_in(f: common_pb::AccountFilter, field: &str) -> VResult<AccountFilter> {
    let filter = account_filter!(AccountFilter, f);
    filter.validate(field)?;
    Ok(filter)
}

/// An account filter to the wire (for clients of ListAccounts, e.g. the dialer's ledger link).
pub fn account_filter_out(f: AccountFilter) -> common_pb::AccountFilter {
    account_filter!(common_pb::AccountFilter, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_mapping_round_trips_and_rejects_unknown() {
        for o in [Outcome::Busy, Outcome::Conversation, Outcome::WrongParty] {
            assert_eq!(outcome_from(outcome_to(o), "outcome").unwrap(), Some(o));
        }
        for m in [DialMode::Manual, DialMode::Prerecorded] {
            assert_eq!(dial_mode_from(dial_mode_to(m), "mode").unwrap(), Some(m));
        }
        for k in [PhoneKind::Mobile, PhoneKind::Unknown] {
            assert_eq!(phone_kind_from(phone_kind_to(k), "kind").unwrap(), Some(k));
        }
        assert_eq!(outcome_from(0, "outcome").unwrap(), None);
        let e = outcome_from(99, "outcome").unwrap_err();
        assert_eq!(e.field, "outcome");
    }

    #[test]
    fn account_filters_round_trip_and_are_checked() {
        let f = AccountFilter {
            creditor: "Bank".into(),
            min_balance_minor: Some(0),
            max_balance_minor: Some(100),
            min_days_past_due: None,
            max_days_past_due: Some(90),
            has_phone: Some(false),
        };
        assert_eq!(
            account_filter_in(account_filter_out(f.clone()), "filter"),
            Ok(f)
        );
        let reversed = common_pb::AccountFilter {
            min_balance_minor: Some(5),
            max_balance_minor: Some(4),
            ..Default::default()
        };
        let e = account_filter_in(reversed, "filter").unwrap_err();
        assert_eq!(e.field, "filter.max_balance_minor");
    }
}
