//! SIP, SIPS and tel URIs (RFC 3261 19.1, RFC 3966) parsed into parts and written back the
//! way they were read: the trunk's Request-URI, Contact (the remote target) and Record-Route
//! entries (`;lr`, `;transport=`) are all URIs the dialog layer has to take apart.

use std::fmt;

use crate::error::ParseError;
use crate::syntax::{Param, clip, find_param, parse_decimal};

/// A `sip:`, `sips:` or `tel:` URI. Text is kept as written (escapes included), so
/// [`fmt::Display`] gives back the parsed string.
///
/// For `tel:` URIs the number is in `user` and `host` is empty. IPv6 hosts keep their
/// brackets (`[2001:db8::1]`), as in RFC 3261's `host` rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Uri {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
    pub headers: Vec<(String, String)>,
}

const FIELD: &str = "uri";

fn err(detail: impl Into<String>) -> ParseError {
    ParseError::malformed(FIELD, detail)
}

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

/// Checks that every character of `s` is unreserved, one of `extra`, or a `%XX` escape.
fn check_chars(s: &str, extra: &str, what: &str) -> Result<(), ParseError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let c = b as char;
        if b == b'%' {
            let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(err(format!("bad escape in {what}")));
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii() && (unreserved(c) || extra.contains(c))) {
            return Err(err(format!("character {c:?} not allowed in {what}")));
        }
        i += 1;
    }
    Ok(())
}

/// Parses `host[:port]`, the host a name, an IPv4 address or a bracketed IPv6 address.
pub(crate) fn parse_host_port(s: &str) -> Result<(String, Option<u16>), ParseError> {
    let (host, port) = if s.starts_with('[') {
        let end = s
            .find(']')
            .ok_or_else(|| err("unterminated IPv6 reference"))?;
        let host = s.get(..=end).unwrap_or_default();
        let inner = host.get(1..host.len() - 1).unwrap_or_default();
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(err(format!("bad IPv6 address {:?}", clip(inner))));
        }
        let rest = s.get(end + 1..).unwrap_or_default();
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return Err(err(format!("unexpected {:?} after IPv6 host", clip(rest)))),
        };
        (host, port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(err("empty host"));
    }
    if !host.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        return Err(err(format!("bad host {:?}", clip(host))));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            parse_decimal(p, u64::from(u16::MAX))
                .map(|n| n as u16)
                .ok_or_else(|| {
                    ParseError::new(
                        crate::ErrorKind::OutOfRange,
                        FIELD,
                        format!("bad port {:?}", clip(p)),
                    )
                })?,
        ),
    };
    Ok((host.to_string(), port))
}

fn parse_uri_params(s: &str) -> Result<Vec<Param>, ParseError> {
    let mut out = Vec::new();
    for item in s.split(';') {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (item, None),
        };
        if name.is_empty() {
            return Err(err("empty parameter"));
        }
        check_chars(name, "[]/:&+$", "a parameter name")?;
        if let Some(v) = value {
            check_chars(v, "[]/:&+$", "a parameter value")?;
        }
        out.push((name.to_string(), value.map(str::to_string)));
    }
    Ok(out)
}

impl Uri {
    /// A `sip:` URI for `user@host:port`.
    pub fn sip(user: Option<&str>, host: impl Into<String>, port: Option<u16>) -> Uri {
        Uri {
            scheme: "sip".into(),
            user: user.map(str::to_string),
            host: host.into(),
            port,
            ..Uri::default()
        }
    }

    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let (scheme, rest) = s.split_once(':').ok_or_else(|| err("no scheme"))?;
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("whitespace or control character in URI"));
        }
        if scheme.eq_ignore_ascii_case("tel") {
            return Self::parse_tel(scheme, rest);
        }
        if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
            return Err(err(format!("unsupported scheme {:?}", clip(scheme))));
        }
        // The user part cannot hold an unescaped '@', so the first one ends it; it can hold
        // ';' and '?', which is why the split comes first.
        let (userinfo, hostpart) = match rest.find('@') {
            Some(at) => (rest.get(..at), rest.get(at + 1..).unwrap_or_default()),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err(err("empty user"));
                }
                check_chars(u, "&=+$,;?/", "the user part")?;
                if let Some(p) = p {
                    check_chars(p, "&=+$,", "the password")?;
                }
                (Some(u.to_string()), p.map(str::to_string))
            }
        };
        let (before_headers, headers) = match hostpart.split_once('?') {
            Some((b, h)) => (b, Some(h)),
            None => (hostpart, None),
        };
        let (hostport, params) = match before_headers.split_once(';') {
            Some((hp, p)) => (hp, parse_uri_params(p)?),
            None => (before_headers, Vec::new()),
        };
        let (host, port) = parse_host_port(hostport)?;
        let headers = match headers {
            None => Vec::new(),
            Some(h) => {
                let mut out = Vec::new();
                for item in h.split('&') {
                    let (n, v) = item
                        .split_once('=')
                        .ok_or_else(|| err("URI header without '='"))?;
                    if n.is_empty() {
                        return Err(err("empty URI header name"));
                    }
                    check_chars(n, "[]/?:+$", "a URI header")?;
                    check_chars(v, "[]/?:+$", "a URI header")?;
                    out.push((n.to_string(), v.to_string()));
                }
                out
            }
        };
        Ok(Uri {
            scheme: scheme.to_string(),
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    fn parse_tel(scheme: &str, rest: &str) -> Result<Uri, ParseError> {
        let (number, params) = match rest.split_once(';') {
            Some((n, p)) => (n, parse_uri_params(p)?),
            None => (rest, Vec::new()),
        };
        let ok = !number.is_empty()
            && number
                .chars()
                .all(|c| c.is_ascii_hexdigit() || "+-.()*#".contains(c));
        if !ok {
            return Err(err(format!("bad telephone number {:?}", clip(number))));
        }
        Ok(Uri {
            scheme: scheme.to_string(),
            user: Some(number.to_string()),
            params,
            ..Uri::default()
        })
    }

    /// `Some(None)` for a flag parameter (`;lr`), `Some(Some(v))` for `;name=v`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// The `transport` parameter (`udp`, `tcp`, `tls`...), as written.
    pub fn transport(&self) -> Option<&str> {
        self.param("transport").flatten()
    }

    /// A loose router (`;lr`, RFC 3261 16.12.1.1): decides whether the route set is used as
    /// Route headers with the remote target as Request-URI, or the strict-routing rewrite.
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }

    pub fn is_tel(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("tel")
    }

    /// The host as an IP address, without the IPv6 brackets; `None` for a name.
    pub fn host_ip(&self) -> Option<std::net::IpAddr> {
        let h = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host);
        h.parse().ok()
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(s)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if self.is_tel() {
            write!(f, "{}", self.user.as_deref().unwrap_or_default())?;
        } else {
            if let Some(user) = &self.user {
                write!(f, "{user}")?;
                if let Some(p) = &self.password {
                    write!(f, ":{p}")?;
                }
                write!(f, "@")?;
            }
            write!(f, "{}", self.host)?;
            if let Some(port) = self.port {
                write!(f, ":{port}")?;
            }
        }
        crate::syntax::write_params(f, &self.params)?;
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let u = Uri::parse("sip:alice:secret@[2001:db8::1]:5070;transport=tcp;lr?Subject=hi&X=")
            .unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, "[2001:db8::1]");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(u.headers.len(), 2);
        assert_eq!(u.host_ip(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(
            u.to_string(),
            "sip:alice:secret@[2001:db8::1]:5070;transport=tcp;lr?Subject=hi&X="
        );
    }

    #[test]
    fn tel_and_errors() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("+1-201-555-0123"));
        assert_eq!(
            u.to_string(),
            "tel:+1-201-555-0123;phone-context=example.com"
        );
        assert!(Uri::parse("http://x").is_err());
        assert!(Uri::parse("sip:host:99999").is_err());
        assert!(Uri::parse("sip:@host").is_err());
        assert!(Uri::parse("sip:a b@host").is_err());
        assert!(Uri::parse("sip:[::1").is_err());
        assert!(Uri::parse("sip:host;;lr").is_err());
        assert!(Uri::parse("sip:%zz@host").is_err());
    }
}
