//! Redaction of personal data before it reaches logs: phone numbers and names. Everything
//! logged about a person goes through here (a database URL's password is the service
//! skeleton's: `service::config::redact_url`).

/// `+14045550134` -> `+1*******34`: country-code digit and the last two digits only.
pub fn phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let keep_head = if chars[0] == '+' { 2 } else { 0 };
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_head || i >= n - 2 { *c } else { '*' })
        .collect()
}

/// `Jane Q. Doe` -> `J. Q. D.`: initials only.
pub fn name(full: &str) -> String {
    full.split_whitespace()
        .filter_map(|w| w.chars().next())
        .map(|c| format!("{c}."))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts() {
        assert_eq!(phone("+14045550134"), "+1********34");
        assert!(!phone("+14045550134").contains("404555"));
        assert_eq!(name("Jane Q. Doe"), "J. Q. D.");
    }
}
