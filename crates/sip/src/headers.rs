//! Header fields: the ordered list every message carries, with RFC 3261's compact names and
//! comma-separated values handled once, and the typed headers a user agent reads (Via, CSeq,
//! From/To/Contact/Record-Route as name-addr, Reason, Session-Expires).

use std::fmt;

use crate::error::{ErrorKind, ParseError};
use crate::message::Method;
use crate::syntax::{
    self, Param, clip, find_param, is_token, parse_decimal, parse_params, split_top, take_quoted,
};
use crate::uri::{Uri, parse_host_port};

/// Compact forms (RFC 3261 7.3.3 and the extensions that define one).
const COMPACT: &[(char, &str)] = &[
    ('i', "Call-ID"),
    ('f', "From"),
    ('t', "To"),
    ('v', "Via"),
    ('m', "Contact"),
    ('l', "Content-Length"),
    ('c', "Content-Type"),
    ('k', "Supported"),
    ('x', "Session-Expires"),
    ('e', "Content-Encoding"),
    ('s', "Subject"),
    ('r', "Refer-To"),
    ('o', "Event"),
    ('u', "Allow-Events"),
    ('b', "Referred-By"),
    ('a', "Accept-Contact"),
    ('j', "Reject-Contact"),
    ('d', "Request-Disposition"),
    ('y', "Identity"),
];

/// Headers whose values are comma-separated lists (RFC 3261 7.3.1); any other header's
/// value is one item, commas and all (Date, WWW-Authenticate, User-Agent...).
const LISTS: &[&str] = &[
    "via",
    "route",
    "record-route",
    "contact",
    "allow",
    "supported",
    "require",
    "proxy-require",
    "unsupported",
    "accept",
    "accept-encoding",
    "accept-language",
    "content-encoding",
    "allow-events",
    "reason",
    "path",
    "service-route",
    "p-asserted-identity",
    "p-preferred-identity",
    "warning",
    "alert-info",
    "call-info",
    "error-info",
    "in-reply-to",
];

/// The full name of a header, with compact forms expanded.
pub fn full_name(name: &str) -> &str {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_lowercase();
        if let Some((_, full)) = COMPACT.iter().find(|(k, _)| *k == c) {
            return full;
        }
    }
    name
}

/// Whether two header names denote the same header (case-insensitive, compact forms equal
/// to their long forms).
pub fn same_name(a: &str, b: &str) -> bool {
    full_name(a).eq_ignore_ascii_case(full_name(b))
}

fn is_list(name: &str) -> bool {
    let full = full_name(name);
    LISTS.iter().any(|l| l.eq_ignore_ascii_case(full))
}

/// A message's header fields in order, as written (names keep their spelling, so a
/// message read and written again looks the same).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// The first value of header `name` (whole: a list header's first line, not split).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| same_name(n, name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order; the values of list headers (Via, Route,
    /// Record-Route, Contact...) are split at commas outside quotes and `<...>`, and empty
    /// items dropped.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let split = is_list(name);
        self.0
            .iter()
            .filter(move |(n, _)| same_name(n, name))
            .flat_map(move |(_, v)| {
                let items: Box<dyn Iterator<Item = &'a str>> = if split {
                    Box::new(split_top(v, ',').map(str::trim).filter(|s| !s.is_empty()))
                } else {
                    Box::new(std::iter::once(v.as_str()))
                };
                items
            })
    }

    /// Appends a header line.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Replaces the first `name` header's value (dropping any others), or appends it.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter().position(|(n, _)| same_name(n, &name)) {
            Some(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
                let mut k = 0;
                self.0.retain(|(n, _)| {
                    let keep = k <= i || !same_name(n, &name);
                    k += 1;
                    keep
                });
            }
            None => self.0.push((name, value)),
        }
    }

    /// Removes every `name` header.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !same_name(n, name));
    }

    /// Inserts a header line before all others (a proxy's Via, a Route at the top).
    pub fn push_front(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(0, (name.into(), value.into()));
    }

    /// `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the comma-separated header `name` lists `token` (case-insensitive): `timer`
    /// in Supported or Require, `INVITE` in Allow.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.0
            .iter()
            .filter(|(n, _)| same_name(n, name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn call_id(&self) -> Option<&str> {
        self.get("Call-ID")
    }

    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(required(self, "CSeq")?).map_err(|e| e.within("CSeq", None))
    }

    pub fn from(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(required(self, "From")?).map_err(|e| e.within("From", None))
    }

    pub fn to(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(required(self, "To")?).map_err(|e| e.within("To", None))
    }

    /// Every Via, topmost first (empty when there is none).
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.get_all("Via")
            .map(|v| Via::parse(v).map_err(|e| e.within("Via", None)))
            .collect()
    }

    /// The first Contact (the remote target); `*` is an error here (it only means anything
    /// in a REGISTER).
    pub fn contact(&self) -> Result<Option<NameAddr>, ParseError> {
        self.get_all("Contact")
            .next()
            .map(|c| NameAddr::parse(c).map_err(|e| e.within("Contact", None)))
            .transpose()
    }

    /// Every Record-Route entry in order (a UAC reverses them to build its route set).
    pub fn record_route(&self) -> Result<Vec<NameAddr>, ParseError> {
        name_addrs(self, "Record-Route")
    }

    /// Every Route entry in order.
    pub fn route(&self) -> Result<Vec<NameAddr>, ParseError> {
        name_addrs(self, "Route")
    }

    /// Content-Length as a number; `None` when absent.
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        self.get("Content-Length")
            .map(|v| {
                parse_decimal(v.trim(), u64::from(u32::MAX))
                    .map(|n| n as usize)
                    .ok_or_else(|| {
                        ParseError::malformed(
                            "Content-Length",
                            format!("not a length: {:?}", clip(v)),
                        )
                    })
            })
            .transpose()
    }

    /// Max-Forwards (0-255); `None` when absent.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.get("Max-Forwards")
            .map(|v| {
                parse_decimal(v.trim(), 255)
                    .map(|n| n as u8)
                    .ok_or_else(|| {
                        ParseError::new(
                            ErrorKind::OutOfRange,
                            "Max-Forwards",
                            format!("not 0-255: {:?}", clip(v)),
                        )
                    })
            })
            .transpose()
    }

    /// Session-Expires (RFC 4028); `None` when absent.
    pub fn session_expires(&self) -> Result<Option<SessionExpires>, ParseError> {
        self.get("Session-Expires")
            .map(SessionExpires::parse)
            .transpose()
    }

    /// Min-SE (RFC 4028) in seconds; `None` when absent.
    pub fn min_se(&self) -> Result<Option<u32>, ParseError> {
        self.get("Min-SE")
            .map(|v| delta_seconds(v, "Min-SE"))
            .transpose()
    }

    /// Every Reason value that parses (RFC 3326).
    pub fn reasons(&self) -> Vec<Reason> {
        self.get_all("Reason")
            .filter_map(|r| Reason::parse(r).ok())
            .collect()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a str, &'a str),
    >;
    fn into_iter(self) -> Self::IntoIter {
        fn pair(p: &(String, String)) -> (&str, &str) {
            (p.0.as_str(), p.1.as_str())
        }
        self.0.iter().map(pair)
    }
}

impl Headers {
    /// Checks every Via item of one header value.
    pub(crate) fn vias_of(value: &str) -> Result<(), ParseError> {
        split_top(value, ',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_for_each(|v| Via::parse(v).map(drop))
    }

    /// Checks every name-addr item of one header value.
    pub(crate) fn name_addrs_of(value: &str) -> Result<(), ParseError> {
        split_top(value, ',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_for_each(|v| NameAddr::parse(v).map(drop))
    }
}

fn required<'a>(h: &'a Headers, name: &str) -> Result<&'a str, ParseError> {
    h.get(name)
        .ok_or_else(|| ParseError::new(ErrorKind::Missing, name, "header absent"))
}

fn name_addrs(h: &Headers, name: &str) -> Result<Vec<NameAddr>, ParseError> {
    h.get_all(name)
        .map(|v| NameAddr::parse(v).map_err(|e| e.within(name, None)))
        .collect()
}

fn delta_seconds(v: &str, field: &str) -> Result<u32, ParseError> {
    let (delta, _params) = v.split_once(';').unwrap_or((v, ""));
    parse_decimal(delta.trim(), u64::from(u32::MAX))
        .map(|n| n as u32)
        .ok_or_else(|| {
            ParseError::new(
                ErrorKind::OutOfRange,
                field,
                format!("not a number of seconds: {:?}", clip(delta)),
            )
        })
}

/// The q.850 cause of the first `Reason: Q.850;cause=N` header, if any: why the far end
/// hung up or refused (17 user busy, 16 normal clearing, 19 no answer...).
pub fn q850_cause(headers: &Headers) -> Option<u8> {
    headers
        .get_all("Reason")
        .filter_map(|r| Reason::parse(r).ok())
        .find(|r| r.protocol.eq_ignore_ascii_case("Q.850"))
        .and_then(|r| r.cause)
        .and_then(|c| u8::try_from(c).ok())
}

/// One Via: where a response to the request goes, and its transaction's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `WS`...
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

impl Via {
    /// The `branch` parameter: with the `z9hG4bK` cookie it is the transaction id.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// `Some(None)` for a flag (`;rport`), `Some(Some(v))` for `;name=v`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// Parses one Via value (`SIP/2.0/UDP host:port;branch=...`), whitespace allowed around
    /// the slashes as RFC 3261 allows.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        let field = "Via";
        let bad = |d: String| ParseError::malformed(field, d);
        let mut parts = s.splitn(3, '/');
        let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(format!("no protocol in {:?}", clip(s))));
        };
        if !name.trim().eq_ignore_ascii_case("SIP") {
            return Err(bad(format!("protocol {:?} is not SIP", clip(name.trim()))));
        }
        if version.trim() != "2.0" {
            return Err(ParseError::new(
                ErrorKind::Version,
                field,
                format!("version {:?}", clip(version.trim())),
            ));
        }
        let rest = rest.trim_start();
        let tlen = rest
            .find(|c: char| !syntax::is_token_char(c))
            .unwrap_or(rest.len());
        let (transport, rest) = rest.split_at(tlen);
        if transport.is_empty() {
            return Err(bad("no transport".into()));
        }
        if !rest.starts_with(char::is_whitespace) {
            return Err(bad("no space before sent-by".into()));
        }
        let rest = rest.trim_start();
        let (sent_by, params) = match rest.find(';') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = parse_host_port(sent_by.trim())
            .map_err(|e| ParseError::new(e.kind, field, format!("sent-by: {}", e.detail)))?;
        let params = parse_params(params, field)?;
        Ok(Via {
            transport: transport.to_string(),
            host,
            port,
            params,
        })
    }
}

impl std::str::FromStr for Via {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Via, ParseError> {
        Via::parse(s)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        syntax::write_params(f, &self.params)
    }
}

/// CSeq: the request's sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let s = s.trim();
        let (num, method) = s.split_once(|c: char| c.is_whitespace()).ok_or_else(|| {
            ParseError::malformed(
                "CSeq",
                format!("expected number and method in {:?}", clip(s)),
            )
        })?;
        // RFC 3261 8.1.1.5: the sequence number is below 2^31.
        let seq = parse_decimal(num, (1 << 31) - 1).ok_or_else(|| {
            ParseError::new(
                ErrorKind::OutOfRange,
                "CSeq",
                format!("bad sequence number {:?}", clip(num)),
            )
        })?;
        let method = method
            .trim()
            .parse::<Method>()
            .map_err(|e| e.within("CSeq", None))?;
        Ok(CSeq {
            seq: seq as u32,
            method,
        })
    }
}

impl std::str::FromStr for CSeq {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<CSeq, ParseError> {
        CSeq::parse(s)
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A name-addr or addr-spec (From, To, Contact, Route, Record-Route): optional display
/// name, URI, header parameters (`tag`, `expires`, `q`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Without quotes or escapes.
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Vec<Param>,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// The dialog tag (`;tag=`).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// Sets (or replaces) a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_string(), value)),
        }
    }

    /// Parses `"Name" <uri>;params`, `Name <uri>;params` or a bare `uri;params`. In the bare
    /// form (RFC 3261 20.10) everything after the first `;` is a header parameter, and a URI
    /// with `?headers` must be in `<>`.
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let field = "name-addr";
        let s = s.trim();
        let (display, rest) = if s.starts_with('"') {
            let (d, rest) = take_quoted(s).map_err(|e| ParseError::malformed(field, e))?;
            let rest = rest.trim_start();
            if !rest.starts_with('<') {
                return Err(ParseError::malformed(
                    field,
                    "display name not followed by <uri>",
                ));
            }
            (Some(d), rest)
        } else if let Some(lt) = s.find('<') {
            let name = s.get(..lt).unwrap_or_default().trim();
            let words: Vec<&str> = name.split_whitespace().collect();
            if words.iter().any(|w| !is_token(w)) {
                return Err(ParseError::malformed(
                    field,
                    format!("display name {:?} must be quoted", clip(name)),
                ));
            }
            let d = (!words.is_empty()).then(|| words.join(" "));
            (d, s.get(lt..).unwrap_or_default())
        } else {
            let (uri, params) = match s.find(';') {
                Some(i) => s.split_at(i),
                None => (s, ""),
            };
            let uri = Uri::parse(uri.trim_end()).map_err(|e| e.within(field, None))?;
            if !uri.headers.is_empty() {
                return Err(ParseError::malformed(
                    field,
                    "a URI with headers must be enclosed in <>",
                ));
            }
            return Ok(NameAddr {
                display: None,
                uri,
                params: parse_params(params, field)?,
            });
        };
        let inner = rest.strip_prefix('<').unwrap_or(rest);
        let gt = inner
            .find('>')
            .ok_or_else(|| ParseError::malformed(field, "no closing '>'"))?;
        let uri =
            Uri::parse(inner.get(..gt).unwrap_or_default()).map_err(|e| e.within(field, None))?;
        let params = parse_params(inner.get(gt + 1..).unwrap_or_default(), field)?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }
}

impl std::str::FromStr for NameAddr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<NameAddr, ParseError> {
        NameAddr::parse(s)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", syntax::quote(d))?;
        }
        write!(f, "<{}>", self.uri)?;
        syntax::write_params(f, &self.params)
    }
}

/// One Reason value (RFC 3326): `Q.850;cause=17;text="User busy"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `Q.850` or `SIP`.
    pub protocol: String,
    pub cause: Option<u16>,
    pub text: Option<String>,
}

impl Reason {
    pub fn parse(s: &str) -> Result<Reason, ParseError> {
        let s = s.trim();
        let (protocol, params) = match s.find(';') {
            Some(i) => s.split_at(i),
            None => (s, ""),
        };
        let protocol = protocol.trim();
        if !is_token(protocol) {
            return Err(ParseError::malformed(
                "Reason",
                format!("bad protocol {:?}", clip(protocol)),
            ));
        }
        let params = parse_params(params, "Reason")?;
        let cause = match find_param(&params, "cause").flatten() {
            None => None,
            Some(c) => Some(
                parse_decimal(c, u64::from(u16::MAX))
                    .map(|n| n as u16)
                    .ok_or_else(|| {
                        ParseError::new(
                            ErrorKind::OutOfRange,
                            "Reason",
                            format!("bad cause {:?}", clip(c)),
                        )
                    })?,
            ),
        };
        let text = find_param(&params, "text").flatten().map(syntax::unquote);
        Ok(Reason {
            protocol: protocol.to_string(),
            cause,
            text,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.protocol)?;
        if let Some(c) = self.cause {
            write!(f, ";cause={c}")?;
        }
        if let Some(t) = &self.text {
            write!(f, ";text={}", syntax::quote(t))?;
        }
        Ok(())
    }
}

/// Which side refreshes the session (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refresher {
    Uac,
    Uas,
}

/// Session-Expires (RFC 4028): the session interval and who refreshes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta_s: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn parse(s: &str) -> Result<SessionExpires, ParseError> {
        let field = "Session-Expires";
        let s = s.trim();
        let (delta, params) = match s.find(';') {
            Some(i) => s.split_at(i),
            None => (s, ""),
        };
        let delta_s = delta_seconds(delta, field)?;
        let params = parse_params(params, field)?;
        let refresher = match find_param(&params, "refresher").flatten() {
            None => None,
            Some(r) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(r) => {
                return Err(ParseError::malformed(
                    field,
                    format!("refresher {:?} is neither uac nor uas", clip(r)),
                ));
            }
        };
        Ok(SessionExpires { delta_s, refresher })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta_s)?;
        match self.refresher {
            Some(Refresher::Uac) => write!(f, ";refresher=uac"),
            Some(Refresher::Uas) => write!(f, ";refresher=uas"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            h.push(*n, *v);
        }
        h
    }

    #[test]
    fn compact_names_and_lists() {
        let h = headers(&[
            (
                "v",
                "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5061;branch=z9hG4bK2",
            ),
            ("Via", "SIP/2.0/UDP c;branch=z9hG4bK3"),
            ("i", "abc@host"),
            ("User-Agent", "x, y"),
        ]);
        assert_eq!(h.call_id(), Some("abc@host"));
        assert_eq!(h.get("CALL-ID"), Some("abc@host"));
        assert_eq!(h.get_all("via").count(), 3);
        assert_eq!(h.get_all("User-Agent").collect::<Vec<_>>(), vec!["x, y"]);
        let vias = h.vias().unwrap();
        assert_eq!(vias[1].port, Some(5061));
        assert_eq!(vias[2].branch(), Some("z9hG4bK3"));
    }

    #[test]
    fn set_and_remove() {
        let mut h = headers(&[("l", "1"), ("X", "a"), ("Content-Length", "2")]);
        h.set("Content-Length", "9");
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![("l", "9"), ("X", "a")]);
        h.remove("content-length");
        assert_eq!(h.len(), 1);
        h.set("Y", "b");
        assert_eq!(h.get("y"), Some("b"));
    }

    #[test]
    fn name_addr_forms() {
        let n =
            NameAddr::parse(r#""Bob \"B\"" <sip:bob@example.com;transport=tcp>;tag=a1"#).unwrap();
        assert_eq!(n.display.as_deref(), Some(r#"Bob "B""#));
        assert_eq!(n.tag(), Some("a1"));
        assert_eq!(n.uri.transport(), Some("tcp"));
        assert_eq!(NameAddr::parse(&n.to_string()).unwrap(), n);
        let bare = NameAddr::parse("sip:bob@example.com;tag=x").unwrap();
        assert_eq!(bare.tag(), Some("x"));
        assert!(bare.uri.params.is_empty());
        let tokens = NameAddr::parse("A.  Bell <sip:a@b>").unwrap();
        assert_eq!(tokens.display.as_deref(), Some("A. Bell"));
        assert!(NameAddr::parse("Bell, Alexander <sip:a@b>").is_err());
        assert!(NameAddr::parse(r#""Mr. J. User <sip:j.user@example.com>"#).is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E").is_err());
    }

    #[test]
    fn reason_and_timers() {
        let mut h = headers(&[(
            "Reason",
            r#"SIP;cause=200;text="Call completed elsewhere", Q.850;cause=17;text="User busy""#,
        )]);
        assert_eq!(q850_cause(&h), Some(17));
        assert_eq!(h.reasons()[1].text.as_deref(), Some("User busy"));
        h.push("x", "1800;refresher=uac");
        h.push("Min-SE", "90");
        assert_eq!(
            h.session_expires().unwrap(),
            Some(SessionExpires {
                delta_s: 1800,
                refresher: Some(Refresher::Uac)
            })
        );
        assert_eq!(h.min_se().unwrap(), Some(90));
        let r = Reason::parse(r#"Q.850;cause=16;text="Normal \"clearing\"""#).unwrap();
        assert_eq!(Reason::parse(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn via_and_cseq() {
        let v = Via::parse("SIP  /   2.0  /UDP     192.0.2.2;rport;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.param("rport"), Some(None));
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v);
        assert!(Via::parse("SIP/7.0/UDP c.example.com").is_err());
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        let c = CSeq::parse("0009\t INVITE").unwrap();
        assert_eq!(
            c,
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
    }
}
