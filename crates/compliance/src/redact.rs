//! Redaction of personal data for logs and audit output: a phone number keeps its country
//! code, area code and last two digits, enough to debug routing without identifying anyone.

/// `+14045550134` -> `+1404***34`; anything that is not `+` and digits becomes `***`.
pub fn redact_number(number: &str) -> String {
    let Some(digits) = number.strip_prefix('+') else {
        return "***".to_string();
    };
    if digits.len() < 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return "***".to_string();
    }
    let keep = if digits.starts_with('1') { 4 } else { 3 };
    format!("+{}***{}", &digits[..keep], &digits[digits.len() - 2..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_routing_part() {
        assert_eq!(redact_number("+14045550134"), "+1404***34");
        assert_eq!(redact_number("+442071838750"), "+442***50");
        assert_eq!(redact_number("4045550134"), "***");
        assert_eq!(redact_number("+1404"), "***");
    }
}
