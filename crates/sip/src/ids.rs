//! The identifiers a user agent invents: Via branches, From/To tags, Call-IDs. The crate
//! has no randomness of its own (it stays pure and its tests repeatable), so the caller
//! draws the random numbers and these functions only shape them.

/// A Via branch with RFC 3261's magic cookie: `z9hG4bK` and 16 hex digits.
pub fn branch(random: u64) -> String {
    format!("z9hG4bK{random:016x}")
}

/// A From/To tag: 16 hex digits.
pub fn tag(random: u64) -> String {
    format!("{random:016x}")
}

/// A Call-ID: 32 hex digits `@host` (just the digits when `host` is empty).
pub fn call_id(random: u128, host: &str) -> String {
    if host.is_empty() {
        format!("{random:032x}")
    } else {
        format!("{random:032x}@{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(branch(0xabc), "z9hG4bK0000000000000abc");
        assert_eq!(tag(u64::MAX), "ffffffffffffffff");
        assert_eq!(
            call_id(1, "10.0.0.1"),
            "00000000000000000000000000000001@10.0.0.1"
        );
        assert_eq!(call_id(1, "").len(), 32);
    }
}
