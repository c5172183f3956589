//! The small pieces of RFC 3261's grammar every header parser shares: tokens, quoted
//! strings, `;name=value` parameters, and splitting on a separator that is not inside quotes
//! or `<...>`. Written once so the Via, name-addr, Reason and challenge parsers agree.

use crate::error::ParseError;

/// A generic parameter: `name` or `name=value` (the value as written, quotes kept).
pub type Param = (String, Option<String>);

/// RFC 3261 `token` characters.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Splits `s` at every `sep` that is outside a quoted string and outside `<...>`.
pub fn split_top(s: &str, sep: char) -> SplitTop<'_> {
    SplitTop { rest: Some(s), sep }
}

/// The iterator of [`split_top`]; borrows from the input.
#[derive(Debug, Clone)]
pub struct SplitTop<'a> {
    rest: Option<&'a str>,
    sep: char,
}

impl<'a> Iterator for SplitTop<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let mut in_quotes = false;
        let mut escaped = false;
        let mut angle = false;
        for (i, c) in s.char_indices() {
            if in_quotes {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_quotes = false;
                }
                continue;
            }
            match c {
                '"' if !angle => in_quotes = true,
                '<' => angle = true,
                '>' => angle = false,
                c if c == self.sep && !angle => {
                    let (item, tail) = s.split_at(i);
                    self.rest = tail.get(c.len_utf8()..);
                    return Some(item);
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(s)
    }
}

/// Reads a quoted string at the start of `s` (which must begin with `"`): the unescaped
/// content and what follows the closing quote.
pub fn take_quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, '"')) => {}
        _ => return Err("expected a quoted string".into()),
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) if e != '\r' && e != '\n' => out.push(e),
                _ => return Err("a backslash ends the quoted string".into()),
            },
            '"' => return Ok((out, s.get(i + 1..).unwrap_or(""))),
            '\r' | '\n' => return Err("line break inside a quoted string".into()),
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

/// `s` as a quoted string, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        // Line breaks cannot be carried in a header; a space keeps the words apart.
        if c == '\r' || c == '\n' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A parameter value without its quotes (and unescaped), or as it is when it is a token.
pub fn unquote(v: &str) -> String {
    if v.starts_with('"') {
        if let Ok((s, rest)) = take_quoted(v) {
            if rest.trim().is_empty() {
                return s;
            }
        }
    }
    v.to_string()
}

/// Parses `;name[=value]` parameters; `s` is everything after the element they belong to
/// (empty, or starting with `;` once trimmed). Whitespace around `;` and `=` is allowed
/// (RFC 3261 SEMI and EQUAL are LWS-padded). Values keep their quotes.
pub fn parse_params(s: &str, field: &str) -> Result<Vec<Param>, ParseError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let Some(s) = s.strip_prefix(';') else {
        return Err(ParseError::malformed(
            field,
            format!("unexpected text {:?} before parameters", clip(s)),
        ));
    };
    let mut out = Vec::new();
    for item in split_top(s, ';') {
        let item = item.trim();
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (item, None),
        };
        if !is_token(name) {
            return Err(ParseError::malformed(
                field,
                format!("bad parameter name {:?}", clip(name)),
            ));
        }
        if let Some(v) = value {
            let ok = if v.starts_with('"') {
                matches!(take_quoted(v), Ok((_, rest)) if rest.is_empty())
            } else {
                !v.is_empty() && v.chars().all(|c| is_token_char(c) || "[]:".contains(c))
            };
            if !ok {
                return Err(ParseError::malformed(
                    field,
                    format!("bad value for parameter {name:?}"),
                ));
            }
        }
        out.push((name.to_string(), value.map(str::to_string)));
    }
    Ok(out)
}

/// Writes parameters as `;name[=value]`.
pub fn write_params(f: &mut std::fmt::Formatter<'_>, params: &[Param]) -> std::fmt::Result {
    for (name, value) in params {
        match value {
            Some(v) => write!(f, ";{name}={v}")?,
            None => write!(f, ";{name}")?,
        }
    }
    Ok(())
}

/// The value of parameter `name` (case-insensitive): `Some(None)` for a flag.
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref())
}

/// A decimal number of digits only (no sign, no spaces), within `max`.
pub fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 20 {
        return None;
    }
    let n: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    (n <= max).then_some(n)
}

/// At most 40 characters of `s`, for error messages about hostile input.
pub fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_angles() {
        let v: Vec<_> = split_top(r#""a,b" <sip:x;y,z>;p=1, <sip:q>"#, ',').collect();
        assert_eq!(v, vec![r#""a,b" <sip:x;y,z>;p=1"#, " <sip:q>"]);
        let v: Vec<_> = split_top(r#""a\",b", c"#, ',').collect();
        assert_eq!(v, vec![r#""a\",b""#, " c"]);
    }

    #[test]
    fn quoted_round_trip() {
        let (s, rest) = take_quoted(r#""J Rosenberg \\\"" <x>"#).unwrap();
        assert_eq!(s, r#"J Rosenberg \""#);
        assert_eq!(rest, " <x>");
        assert_eq!(take_quoted(&quote(&s)).unwrap().0, s);
        assert!(take_quoted(r#""open"#).is_err());
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("0009", 100), Some(9));
        assert_eq!(parse_decimal("36893488147419103232", u64::MAX), None);
        assert_eq!(parse_decimal("-1", 100), None);
        assert_eq!(parse_decimal("", 100), None);
    }
}
