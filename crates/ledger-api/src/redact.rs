//! Redaction of personal data before it reaches logs: phone numbers, names and database URLs
//! (which may carry passwords). Everything logged about a person goes through here.

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

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
    {
        let user = creds.split(':').next().unwrap_or("");
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts() {
        assert_eq!(phone("+14045550134"), "+1********34");
        assert!(!phone("+14045550134").contains("404555"));
        assert_eq!(name("Jane Q. Doe"), "J. Q. D.");
        assert_eq!(
            url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(url("sqlite://ledger.db"), "sqlite://ledger.db");
    }
}
